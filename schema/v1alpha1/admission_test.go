package v1alpha1

import (
	"encoding/json"
	"testing"
)

// The annotation holds the verdict as JSON that decodes back to it.
func TestAdmissionEncode(t *testing.T) {
	a := Admission{Allowed: true, Blob: "b10b", Message: "1 of 1 approvals"}
	var got Admission
	if err := json.Unmarshal([]byte(a.Encode()), &got); err != nil || got != a {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
}
