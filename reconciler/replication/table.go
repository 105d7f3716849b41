package replication

import (
	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// The working phases of a ReplicationUpgrade, besides the shared ones.
const (
	// Preflight checks the resource group exists with place count
	// fromPlaceCount (or toPlaceCount already), every replica is
	// UpToDate and enough nodes have the group's storage pool, and plans
	// the batches. Followed by Placing, Succeeded (nothing to do) or
	// Halted.
	Preflight phase.Phase = "Preflight"
	// Placing checks the step gates, then places the next batch's new
	// replicas. Followed by Syncing, Adjusting (no batch left) or Halted.
	Placing phase.Phase = "Placing"
	// Syncing waits, bounded by spec.syncTimeout, until the batch's
	// replicas are UpToDate. Followed by Placing (a batch remains),
	// Adjusting (none remains) or Halted (SyncTimeout).
	Syncing phase.Phase = "Syncing"
	// Adjusting sets the group's place count to toPlaceCount, so new
	// resources get it. Followed by Verifying or Halted.
	Adjusting phase.Phase = "Adjusting"
	// Verifying confirms the place count and that every resource has
	// toPlaceCount UpToDate replicas. Followed by Succeeded or Halted.
	Verifying phase.Phase = "Verifying"
)

// Table is the ReplicationUpgrade state machine.
var Table = &phase.Table{
	Kind:     v1.KindReplicationUpgrade,
	Initial:  phase.Pending,
	Terminal: []phase.Phase{phase.Succeeded, phase.Aborted},
	Idle:     []phase.Phase{phase.Pending, phase.AwaitingApproval, phase.Halted},
	Next: map[phase.Phase][]phase.Phase{
		phase.Pending:          {phase.AwaitingApproval},
		phase.AwaitingApproval: {Preflight, phase.Aborted},
		Preflight:              {Placing, phase.Succeeded, phase.Halted},
		Placing:                {Syncing, Adjusting, phase.Halted},
		Syncing:                {Placing, Adjusting, phase.Halted},
		Adjusting:              {Verifying, phase.Halted},
		Verifying:              {phase.Succeeded, phase.Halted},
		phase.Halted:           {Preflight, Placing, Syncing, Adjusting, Verifying, phase.Aborted},
	},
}
