package v1alpha1

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Admission is the FleetSource controller's verdict on an operation's
// admission gates (approvals, freshness) for one version of its manifest,
// handed to the operation controllers in the AnnotationGates annotation.
// The FleetSource controller writes it with Encode; the operation
// controllers read it with AdmissionFrom.
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

// Errors of AdmissionFrom: no verdict, or one the operation cannot use.
var (
	// ErrNoAdmission: the annotation is missing.
	ErrNoAdmission = errors.New("no admission verdict from the FleetSource controller yet")
	// ErrAdmissionStale: the verdict is for another version of the
	// manifest than the operation's AnnotationBlob.
	ErrAdmissionStale = errors.New("the admission verdict is for another version of the manifest")
)

// AdmissionFrom reads the admission verdict from an operation's
// annotations. It fails closed: a missing verdict is ErrNoAdmission, an
// unreadable one an error naming the annotation, and one for another blob
// than AnnotationBlob wraps ErrAdmissionStale; none of them admits.
func AdmissionFrom(annotations map[string]string) (Admission, error) {
	raw, ok := annotations[AnnotationGates]
	if !ok || raw == "" {
		return Admission{}, ErrNoAdmission
	}
	var a Admission
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		return Admission{}, fmt.Errorf("annotation %s: unreadable admission verdict: %w", AnnotationGates, err)
	}
	if blob := annotations[AnnotationBlob]; a.Blob != blob {
		return Admission{}, fmt.Errorf("%w: the verdict is for blob %s, the operation is blob %s", ErrAdmissionStale, shortID(a.Blob), shortID(blob))
	}
	return a, nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
