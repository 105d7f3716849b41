package replication_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler/backend"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/replication"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func TestBatches(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		size int
		want [][]string
	}{
		{name: "even", in: []string{"a", "b", "c", "d"}, size: 2, want: [][]string{{"a", "b"}, {"c", "d"}}},
		{name: "remainder", in: []string{"a", "b", "c"}, size: 2, want: [][]string{{"a", "b"}, {"c"}}},
		{name: "one batch", in: []string{"a", "b"}, size: 10, want: [][]string{{"a", "b"}}},
		{name: "size below one is one", in: []string{"a", "b"}, size: 0, want: [][]string{{"a"}, {"b"}}},
		{name: "nothing", in: nil, size: 3, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, replication.Batches(tt.in, tt.size))
		})
	}
}

func res(name string, states ...string) backend.Resource {
	r := backend.Resource{Name: name}
	for i, s := range states {
		r.Replicas = append(r.Replicas, backend.Replica{Node: string(rune('a' + i)), State: s})
	}
	return r
}

const up = backend.UpToDate

func TestCheck(t *testing.T) {
	spec := v1.ReplicationUpgradeSpec{ResourceGroup: "g", FromPlaceCount: 2, ToPlaceCount: 3}
	three := []string{"a", "b", "c"}
	tests := []struct {
		name      string
		spec      v1.ReplicationUpgradeSpec
		group     backend.ResourceGroup
		nodes     []string
		want      []string
		stallWith string
	}{
		{name: "every resource needs one", group: backend.ResourceGroup{Name: "g", PlaceCount: 2, Resources: []backend.Resource{res("r2", up, up), res("r1", up, up)}},
			nodes: three, want: []string{"r1", "r2"}},
		{name: "some placed already", group: backend.ResourceGroup{Name: "g", PlaceCount: 2, Resources: []backend.Resource{res("r1", up, up, up), res("r2", up, up)}},
			nodes: three, want: []string{"r2"}},
		{name: "place count at toPlaceCount already", group: backend.ResourceGroup{Name: "g", PlaceCount: 3, Resources: []backend.Resource{res("r1", up, up, up)}},
			nodes: three, want: nil},
		{name: "place count neither", group: backend.ResourceGroup{Name: "g", PlaceCount: 1}, nodes: three, stallWith: "place count 1, neither fromPlaceCount 2 nor toPlaceCount 3"},
		{name: "too few nodes with the pool", group: backend.ResourceGroup{Name: "g", PlaceCount: 2}, nodes: []string{"a", "b"}, stallWith: "needs 3 nodes with storage pool nvme, the profile has 2 (a, b)"},
		{name: "a replica not UpToDate", group: backend.ResourceGroup{Name: "g", PlaceCount: 2, Resources: []backend.Resource{res("r1", up, "Outdated")}},
			nodes: three, stallWith: "r1 (b Outdated)"},
		{name: "a resource below fromPlaceCount", group: backend.ResourceGroup{Name: "g", PlaceCount: 2, Resources: []backend.Resource{res("r1", up)}},
			nodes: three, stallWith: "r1 (1 of 2 replicas)"},
		{name: "toPlaceCount not above fromPlaceCount", spec: v1.ReplicationUpgradeSpec{ResourceGroup: "g", FromPlaceCount: 3, ToPlaceCount: 3},
			group: backend.ResourceGroup{Name: "g", PlaceCount: 3}, nodes: three, stallWith: "not above"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec
			if tt.spec.ResourceGroup != "" {
				s = tt.spec
			}
			need, err := replication.Check(s, &tt.group, "nvme", tt.nodes)
			if tt.stallWith != "" {
				require.Error(t, err)
				assert.Equal(t, operation.Stalling, operation.Classify(err).Class)
				assert.ErrorContains(t, err, tt.stallWith)
				assert.ErrorContains(t, err, replication.ReasonPreflightFailed)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, need)
		})
	}
}

func TestStoragePool(t *testing.T) {
	p := &v1.EdgeProfile{Spec: v1.EdgeProfileSpec{
		Nodes: []v1.Node{
			{Name: "a", StoragePools: []string{"nvme"}},
			{Name: "b", StoragePools: []string{"hdd"}},
			{Name: "c", StoragePools: []string{"hdd", "nvme"}},
		},
		ResourceGroups: []v1.ResourceGroup{{Name: "g", StoragePool: "nvme", PlaceCount: 2}},
	}}
	pool, nodes, ok := replication.StoragePool(p, "g")
	require.True(t, ok)
	assert.Equal(t, "nvme", pool)
	assert.Equal(t, []string{"a", "c"}, nodes)
	_, _, ok = replication.StoragePool(p, "nope")
	assert.False(t, ok)
}
