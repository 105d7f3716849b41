// Package nodetask is the reconciler's side of the NodeTask protocol: it
// creates one NodeTask per node step, named so that creating it again is
// a no-op, and reads back what the node's agent reported.
//
// It never writes a task's status (only the agent does) and never
// touches a node itself: the operator owns intent, the agent mutation.
package nodetask
