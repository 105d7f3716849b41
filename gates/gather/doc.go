// Package gather is the one place that does I/O for the gates: it reads
// the site's profile and operations at the accepted commit, the approvals
// index the source built while verifying, and a health report, and turns
// them into gates.Input for each operation.
//
// "nodewright plan" and the reconciler both call it, then gates.Evaluate,
// so what a person sees is what the cluster does. It decides nothing.
package gather
