package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// AnnotationAttestation on a NodeTask holds a ServiceAccount token the
// reconciler minted for its own account, with an audience that is
// AttestationAudience of the task. The agent asks the API server (a
// TokenReview) who the token belongs to and runs the task only when the
// answer is the reconciler's account: the API server, not the object,
// vouches for the writer. The audience binds the token to this task's
// namespace, name and spec, so it proves nothing about any other task, and
// it is not an audience the API server or any other service accepts.
const AnnotationAttestation = "nodewright.io/attestation"

// AttestationAudiencePrefix starts every NodeTask attestation audience.
const AttestationAudiencePrefix = "nodetask.nodewright.io/"

// AttestationAudience is the token audience that binds an attestation to
// the task: AttestationAudiencePrefix and the hex SHA-256 of the canonical
// JSON of the task's namespace, name and spec (encoding/json sorts the
// params' keys, and the deadline is in RFC 3339 to the second).
func (t *NodeTask) AttestationAudience() (string, error) {
	doc := struct {
		Namespace string       `json:"namespace"`
		Name      string       `json:"name"`
		Spec      NodeTaskSpec `json:"spec"`
	}{t.Namespace, t.Name, t.Spec}
	data, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("NodeTask %s/%s: encode for its attestation: %w", t.Namespace, t.Name, err)
	}
	sum := sha256.Sum256(data)
	return AttestationAudiencePrefix + hex.EncodeToString(sum[:]), nil
}

// TaskRequest says which operation asks for an action, and in which phase:
// an agent runs a task only while the operation it names is in that phase.
//
// +kubebuilder:object:generate=false
type TaskRequest struct {
	// Kind is the operation kind whose steps create tasks of the action.
	Kind string
	// Phase is the operation's status.phase while it waits for the task.
	Phase string
}

// PhaseFlip is BondModeFlipPlan's phase in which its FlipBond tasks run.
const PhaseFlip = "Flip"

// TaskRequests maps every action to the operation phase that asks for it.
// An action missing here is run by no agent.
var TaskRequests = map[string]TaskRequest{
	ActionFlipBond: {Kind: KindBondModeFlipPlan, Phase: PhaseFlip},
}
