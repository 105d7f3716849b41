package v1alpha1

import "encoding/json"

// Admission is the FleetSource controller's verdict on an operation's
// admission gates (approvals, freshness) for one version of its manifest,
// kept in the provenance record (reconciler/provenance), which the
// operation controllers read it from, and shown in the AnnotationGates
// annotation (Encode) for people and kubectl: nothing reads it back from
// there, as anyone who may edit the object could write it.
type Admission struct {
	// Allowed is true when approvals and freshness let it start.
	Allowed bool `json:"allowed"`
	// Blob is the manifest version the verdict is for.
	Blob string `json:"blob"`
	// Reason is the first blocking reason code.
	Reason string `json:"reason,omitempty"`
	// Message says what is missing.
	Message string `json:"message,omitempty"`
}

// Encode returns the annotation value of the verdict.
func (a Admission) Encode() string {
	raw, err := json.Marshal(a)
	if err != nil { // a struct of strings and a bool always marshals
		panic(err)
	}
	return string(raw)
}
