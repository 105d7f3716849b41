// Package action holds what a NodeTask asks of an agent, parsed and
// checked: the FlipBond parameters and the probes that confirm a flip. It
// is pure (no Kubernetes client, no host access), so the parsers of this
// outside input are fuzzed on their own; package agent executes actions.
package action
