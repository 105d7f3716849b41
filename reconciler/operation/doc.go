// Package operation is the one reconcile skeleton every operation kind
// runs on: fetch, finalizer and cleanup, the person's Resume or Abort of a
// halted operation, the step function of the current phase, the
// transition (audit record first, then status, each a compare-and-swap),
// and the conditions computed in their own pass.
//
// A kind supplies only data and step functions (Kind): its transition
// table, a step per phase and how to describe it to the gates. Errors of
// steps are classified here and nowhere else (Stall, Wait, transient).
//
// The package owns the operation's status; it never writes a NodeTask's
// status (the agent does) nor the fleet repository.
package operation
