package v1alpha1

import (
	"errors"
	"testing"
)

func TestAdmissionRoundTrip(t *testing.T) {
	a := Admission{Allowed: true, Blob: "b10b", Message: "1 of 1 approvals"}
	got, err := AdmissionFrom(map[string]string{AnnotationGates: a.Encode(), AnnotationBlob: "b10b"})
	if err != nil || got != a {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if _, err := AdmissionFrom(map[string]string{AnnotationGates: a.Encode(), AnnotationBlob: "other"}); !errors.Is(err, ErrAdmissionStale) {
		t.Fatalf("another blob: %v", err)
	}
	if _, err := AdmissionFrom(nil); !errors.Is(err, ErrNoAdmission) {
		t.Fatalf("no annotation: %v", err)
	}
	if _, err := AdmissionFrom(map[string]string{AnnotationGates: `{"allowed":tru`}); err == nil {
		t.Fatal("an unreadable verdict was read")
	}
}

// FuzzAdmissionFrom: whatever the annotations hold, a verdict is either
// refused or allowed only for the blob the operation carries.
func FuzzAdmissionFrom(f *testing.F) {
	f.Add(`{"allowed":true,"blob":"b"}`, "b")
	f.Add(`{"allowed":true,"blob":"b","allowed":false}`, "b")
	f.Add(`null`, "")
	f.Fuzz(func(t *testing.T, raw, blob string) {
		a, err := AdmissionFrom(map[string]string{AnnotationGates: raw, AnnotationBlob: blob})
		if err == nil && a.Blob != blob {
			t.Fatalf("verdict for blob %q accepted for %q", a.Blob, blob)
		}
	})
}
