package bondflip

import (
	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// The working phases of a BondModeFlipPlan, besides the shared ones.
const (
	// Preflight checks every node's agent reports the bond in fromMode (or
	// already in toMode). Followed by ProtectVMs, Succeeded (nothing to
	// do) or Halted.
	Preflight phase.Phase = "Preflight"
	// ProtectVMs moves the VMs off the wave's nodes. Followed by Flip or
	// Halted.
	ProtectVMs phase.Phase = "ProtectVMs"
	// Flip has each wave node's agent flip the bond behind its dead-man
	// switch. Followed by Verify or Halted.
	Flip phase.Phase = v1.PhaseFlip
	// Verify confirms the wave's nodes report toMode and are Ready, and
	// lets VMs back. Followed by NodeDone or Halted.
	Verify phase.Phase = "Verify"
	// NodeDone closes a wave. Followed by ProtectVMs (next wave) or
	// Succeeded.
	NodeDone phase.Phase = "NodeDone"
)

// Table is the BondModeFlipPlan state machine.
var Table = &phase.Table{
	Kind:     v1.KindBondModeFlipPlan,
	Initial:  phase.Pending,
	Terminal: []phase.Phase{phase.Succeeded, phase.Aborted},
	Idle:     []phase.Phase{phase.Pending, phase.AwaitingApproval, phase.Halted},
	Next: map[phase.Phase][]phase.Phase{
		phase.Pending:          {phase.AwaitingApproval},
		phase.AwaitingApproval: {Preflight, phase.Aborted},
		Preflight:              {ProtectVMs, phase.Succeeded, phase.Halted},
		ProtectVMs:             {Flip, phase.Halted},
		Flip:                   {Verify, phase.Halted},
		Verify:                 {NodeDone, phase.Halted},
		NodeDone:               {ProtectVMs, phase.Succeeded, phase.Halted},
		phase.Halted:           {Preflight, ProtectVMs, Flip, Verify, NodeDone, phase.Aborted},
	},
}
