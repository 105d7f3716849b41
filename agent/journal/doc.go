// Package journal is the node agent's write-ahead journal of bond changes:
// a directory on the node (a hostPath) with one small JSON file per task,
// written before the first mutation and fsynced, so that a change can be
// undone by a process that is not the agent and needs no API server.
//
// An entry records the task, the bond, the deadline and the bond's whole
// state before the change (Entry.Pre, a snapshot the Host makes and takes
// back). Its life is a transition table (transitions):
//
//	open      written before the first request to the kernel
//	applied   the change is made; Entry.Post is the state it left
//	committed the probes passed and Succeeded was reported: kept
//	reverted  put back to Pre (by the agent or the watchdog)
//	abandoned the bond was changed by someone else since: left alone
//
// Apply writes the open entry and holds the journal's lock (an flock(2)
// on a file in the directory, which the kernel releases when its holder
// dies) while the change is made; Revert and Commit take the same lock, so
// the agent and the watchdog never touch a bond at the same time.
//
// The Watchdog reverts every open or applied entry whose deadline passed
// more than a grace period ago. It runs in the agent and, as `nodewright
// agent watchdog`, in a container of its own beside it, so a bond goes back
// when the agent is dead, crash-looping or hung and the API server is
// unreachable. Reverting is idempotent: an entry reverted already, or a
// bond that is already as it was, is reported and not touched again; a
// bond changed by hand since the change (it matches neither Pre nor Post)
// is reported and left alone, for a person to check.
//
// Every entry read is checked (size, known fields only, version, state,
// names, times) and a bad one is an error naming the file and the field;
// it is never acted on.
package journal
