// Package reason holds the stable reason codes that the fleet source reports
// when it refuses a commit range, a bundle or a trust policy, and the one
// error type that carries them.
//
// The codes are a contract (see DESIGN.md, "Source verification"): they are
// printed by the command line as "REJECTED <Code>: <message>" and set as
// condition reasons in the cluster. This package owns the codes and how an
// error is classified into one; it does no I/O and knows nothing of git.
package reason
