package v1alpha1

// Labels the reconciler puts on the objects it creates, so that agents and
// people can select them.
const (
	// LabelNode names the node a NodeTask is for; each agent watches only
	// the tasks labelled with its own node.
	LabelNode = "nodewright.io/node"
	// LabelOperationKind and LabelOperationName name the operation a
	// NodeTask belongs to.
	LabelOperationKind = "nodewright.io/operation-kind"
	// LabelOperationName names the operation a NodeTask belongs to.
	LabelOperationName = "nodewright.io/operation"
	// LabelSourceCommit is the fleet commit an operation was applied from.
	LabelSourceCommit = "nodewright.io/source-commit"
	// LabelSite is the site an operation belongs to.
	LabelSite = "nodewright.io/site"
)

// Annotations the FleetSource controller puts on the operations it applies.
// Blob, path, approvals and gates, like LabelSourceCommit, are a display
// for people and kubectl: the operation controllers take an operation's
// origin and verdict from the provenance record, never from these.
const (
	// AnnotationBlob is the git blob id of the operation's manifest.
	AnnotationBlob = "nodewright.io/blob"
	// AnnotationPath is the manifest's path in the fleet repository.
	AnnotationPath = "nodewright.io/path"
	// AnnotationApprovals lists the principals whose approvals counted.
	AnnotationApprovals = "nodewright.io/approvals"
	// AnnotationGates is the gate chain's decision on the operation at the
	// applied commit, as JSON: {"allowed":bool,"blob":..,"reason":..,"message":..}.
	AnnotationGates = "nodewright.io/gates"
	// AnnotationRemoved is set when the operation is no longer in git; the
	// operation finishes or halts, then is deleted.
	AnnotationRemoved = "nodewright.io/removed-from-source"
	// AnnotationRequestedAt on a FleetSource asks for a fetch now; any
	// change of its value does (like `flux reconcile`).
	AnnotationRequestedAt = "nodewright.io/requested-at"
)

// TaskPhase is where a NodeTask stands. The agent moves it forward:
// Pending → Claimed → Running → Succeeded | Failed | Reverted.
type TaskPhase string

// The phases of a NodeTask.
const (
	// TaskPending: created by the reconciler, not yet claimed.
	TaskPending TaskPhase = "Pending"
	// TaskClaimed: an agent took it (its ClaimedBy); nobody else may.
	TaskClaimed TaskPhase = "Claimed"
	// TaskRunning: the agent is changing the node.
	TaskRunning TaskPhase = "Running"
	// TaskSucceeded: done and confirmed by the task's checks.
	TaskSucceeded TaskPhase = "Succeeded"
	// TaskFailed: not done; the node is as it was (Message says why).
	TaskFailed TaskPhase = "Failed"
	// TaskReverted: the change was made, failed its checks or its
	// deadline, and the agent put the node back as it was.
	TaskReverted TaskPhase = "Reverted"
)

// Terminal reports whether no agent will move the task further.
func (p TaskPhase) Terminal() bool {
	return p == TaskSucceeded || p == TaskFailed || p == TaskReverted
}

// Actions a NodeTask may ask of an agent.
const (
	// ActionFlipBond changes a bond's mode behind a dead-man switch: the
	// agent sets ToMode, runs the probes, and reverts to FromMode when a
	// probe fails or it cannot confirm within RevertAfter.
	ActionFlipBond = "FlipBond"
)

// Parameters of ActionFlipBond (NodeTaskSpec.Params keys).
const (
	ParamBond         = "bond"
	ParamFromMode     = "fromMode"
	ParamToMode       = "toMode"
	ParamRevertAfter  = "revertAfter"  // a Go duration
	ParamGateway      = "gateway"      // an address; empty skips
	ParamPeers        = "peers"        // comma-separated node names
	ParamAPIServer    = "apiServer"    // "true" or "false"
	ParamProbeTimeout = "probeTimeout" // a Go duration
)

// OperationAction is a person's instruction to a halted operation, given
// as a spec change in git that passes the same gates as the operation.
// +kubebuilder:validation:Enum=Resume;Abort
type OperationAction string

// The actions.
const (
	// ActionResume retries the step the operation halted on.
	ActionResume OperationAction = "Resume"
	// ActionAbort ends the operation in Aborted, leaving done steps done.
	ActionAbort OperationAction = "Abort"
)
