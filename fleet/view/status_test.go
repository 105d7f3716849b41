package view

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewright/nodewright/fleet/statusbranch"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func goodStatus() v1.ClusterStatus {
	return v1.ClusterStatus{
		Cluster:       "edge-1",
		Site:          "north",
		AppliedCommit: "0123456789abcdef0123456789abcdef01234567",
		PolicyVersion: 4,
		Operations: []v1.OperationSummary{
			{Kind: "BondModeFlipPlan", Name: "bond0-to-lacp", Phase: "Flip", Progress: "1/3 nodes"},
			{Kind: "VMVolumeMigration", Name: "db", Phase: "Halted"},
		},
		Nodes: v1.NodeHealthSummary{Total: 3, Ready: 2},
		Time:  metav1.NewTime(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)),
	}
}

// TestParseStatusReadsTheWritersFormat reads what the status writer
// writes, in full and cut to a summary.
func TestParseStatusReadsTheWritersFormat(t *testing.T) {
	want := goodStatus()
	data, truncated, err := statusbranch.EncodeStatus(want, 0)
	require.NoError(t, err)
	require.False(t, truncated)
	got, err := ParseStatus("s.yaml", "edge-1", data)
	require.NoError(t, err)
	assert.Equal(t, want.Operations, got.Operations)
	assert.Equal(t, want.Nodes, got.Nodes)
	assert.True(t, want.Time.Equal(&got.Time))
	assert.False(t, got.Truncated)

	for i := range 200 {
		want.Operations = append(want.Operations, v1.OperationSummary{Kind: "ReplicationUpgrade", Name: fmt.Sprintf("rg-%03d", i), Phase: "Succeeded"})
	}
	data, truncated, err = statusbranch.EncodeStatus(want, 2048)
	require.NoError(t, err)
	require.True(t, truncated)
	got, err = ParseStatus("s.yaml", "edge-1", data)
	require.NoError(t, err)
	assert.True(t, got.Truncated)
	assert.Equal(t, 202, got.TotalOperations)
	assert.Equal(t, 1, got.Phases["Halted"])
}

func TestParseStatusErrors(t *testing.T) {
	base := "cluster: edge-1\nsite: north\ntime: \"2025-03-01T12:00:00Z\"\n"
	cases := []struct {
		name, in, want string
	}{
		{"unknown field", base + "nodez: {}\n", "s.yaml:4:1: nodez: unknown field"},
		{"wrong type", base + "policyVersion: four\n", "s.yaml:4:16: policyVersion: expected an integer"},
		{"wrong directory", "site: north\ncluster: edge-2\n", `s.yaml:2: cluster: "edge-2" does not match the directory clusters/edge-1/ the report is in`},
		{"no cluster", "site: north\n", "cluster: is missing or empty"},
		{"empty", "", "s.yaml: file is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseStatus("s.yaml", "edge-1", []byte(c.in))
			require.Error(t, err)
			var pe *statusbranch.ParseError
			require.True(t, errors.As(err, &pe), "%T", err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	_, err := ParseStatus("s.yaml", "", []byte("cluster: any\n"))
	assert.NoError(t, err, "without a directory any cluster name is accepted")
}

func FuzzParseStatus(f *testing.F) {
	good, _, err := statusbranch.EncodeStatus(goodStatus(), 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("cluster: edge-1\nsite: north\ntime: 2025-03-01T12:00:00Z\n"))
	f.Add([]byte("cluster: edge-2\n"))
	f.Add([]byte("cluster: edge-1\nnodes: &a {total: 1}\nx: *a\n"))
	f.Add([]byte("cluster: edge-1\ntruncated: true\ntotalOperations: 3\nphases: {Halted: 3}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseStatus("f.yaml", "edge-1", data)
		if err != nil {
			var pe *statusbranch.ParseError
			if !errors.As(err, &pe) || pe.File != "f.yaml" {
				t.Fatalf("error is not located in the file: %v", err)
			}
			return
		}
		if st.Cluster != "edge-1" {
			t.Fatalf("accepted a report of cluster %q in edge-1's directory", st.Cluster)
		}
		// What the view makes of it never panics and is classified.
		c := judge("edge-1", data, nil, time.Now(), time.Hour)
		if c.Health == "" || c.Summary == "" {
			t.Fatalf("unclassified cluster %+v", c)
		}
	})
}
