package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler/backend"
	"github.com/nodewright/nodewright/reconciler/backend/memory"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func profile() *v1.EdgeProfile {
	return &v1.EdgeProfile{Spec: v1.EdgeProfileSpec{
		Site: "edge-001", ClusterName: "edge-001",
		Nodes: []v1.Node{
			{Name: "node-a", StoragePools: []string{"nvme"}},
			{Name: "node-b", StoragePools: []string{"nvme"}},
			{Name: "node-c", StoragePools: []string{"nvme"}},
			{Name: "node-d", StoragePools: []string{"hdd"}},
		},
		ResourceGroups: []v1.ResourceGroup{
			{Name: "vm-disks", StoragePool: "nvme", PlaceCount: 2},
			{Name: "archive", StoragePool: "hdd", PlaceCount: 1},
		},
		StorageClasses: []v1.StorageClass{
			{Name: "linstor-r2", ResourceGroup: "vm-disks"},
			{Name: "linstor-r3", ResourceGroup: "vm-disks"},
		},
	}}
}

func replicas(r backend.Resource) []string {
	var out []string
	for _, rep := range r.Replicas {
		out = append(out, rep.Node+"="+rep.State)
	}
	return out
}

func TestStorageFromProfileSpreadsReplicas(t *testing.T) {
	s := memory.StorageFromProfile(profile(), 3)
	g, ok := s.Group("vm-disks")
	require.True(t, ok)
	assert.Equal(t, 2, g.PlaceCount)
	require.Len(t, g.Resources, 3)
	assert.Equal(t, "vm-disks-001", g.Resources[0].Name)
	assert.Equal(t, []string{"node-a=UpToDate", "node-b=UpToDate"}, replicas(g.Resources[0]))
	assert.Equal(t, []string{"node-b=UpToDate", "node-c=UpToDate"}, replicas(g.Resources[1]))
	assert.Equal(t, []string{"node-c=UpToDate", "node-a=UpToDate"}, replicas(g.Resources[2]))

	a, ok := s.Group("archive")
	require.True(t, ok)
	assert.Equal(t, []string{"node-d=UpToDate"}, replicas(a.Resources[0]), "only nodes with the group's pool hold replicas")

	_, ok = s.Group("nope")
	assert.False(t, ok)
	assert.Empty(t, s.Calls(), "Group is no backend call")
}

func TestPlaceSyncsAfterObservations(t *testing.T) {
	ctx := context.Background()
	s := memory.StorageFromProfile(profile(), 3)
	s.SetSyncAfter(2)

	require.NoError(t, s.Place(ctx, "vm-disks", []string{"vm-disks-001", "vm-disks-002"}, 3))
	g, _ := s.Group("vm-disks")
	assert.Equal(t, []string{"node-a=UpToDate", "node-b=UpToDate", "node-c=SyncTarget"}, replicas(g.Resources[0]))
	assert.Equal(t, []string{"node-b=UpToDate", "node-c=UpToDate", "node-a=SyncTarget"}, replicas(g.Resources[1]))
	assert.Len(t, g.Resources[2].Replicas, 2, "a resource not named is left alone")

	g1, err := s.ResourceGroup(ctx, "vm-disks")
	require.NoError(t, err)
	assert.Equal(t, 2, g1.Resources[0].InSync(), "first observation: still syncing")
	g2, err := s.ResourceGroup(ctx, "vm-disks")
	require.NoError(t, err)
	assert.Equal(t, 3, g2.Resources[0].InSync(), "second observation: UpToDate")
	assert.Equal(t, 3, g2.Resources[1].InSync())
	assert.Equal(t, 2, g1.Resources[1].InSync(), "a returned group is a copy")

	require.NoError(t, s.Place(ctx, "vm-disks", []string{"vm-disks-001", "vm-disks-002"}, 3), "a repeat is a no-op")
	require.NoError(t, s.Place(ctx, "vm-disks", []string{"vm-disks-001"}, 2), "fewer than present is a no-op")
	var places []memory.Call
	for _, c := range s.Calls() {
		if c.Method == memory.MethodPlace {
			places = append(places, c)
		}
	}
	require.Len(t, places, 3)
	assert.True(t, places[0].Changed)
	assert.False(t, places[1].Changed)
	assert.False(t, places[2].Changed)
	assert.Len(t, s.Mutations(), 1)
	assert.Equal(t, "Place(vm-disks, [vm-disks-001 vm-disks-002], 3) changed", s.Mutations()[0].String())
}

func TestPlaceZeroSyncAfterIsUpToDate(t *testing.T) {
	s := memory.StorageFromProfile(profile(), 1)
	s.SetSyncAfter(0)
	require.NoError(t, s.Place(context.Background(), "vm-disks", []string{"vm-disks-001"}, 3))
	g, _ := s.Group("vm-disks")
	assert.Equal(t, 3, g.Resources[0].InSync())
}

func TestPlaceRefusesWithoutChange(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("linstor controller unreachable")
	tests := []struct {
		name    string
		arrange func(*memory.Storage)
		group   string
		res     []string
		count   int
		want    string
		is      error
	}{
		{name: "unknown group", group: "nope", res: []string{"x"}, count: 3, is: memory.ErrNotFound},
		{name: "unknown resource", group: "vm-disks", res: []string{"vm-disks-001", "ghost"}, count: 3, is: memory.ErrNotFound},
		{name: "not enough nodes", group: "vm-disks", res: []string{"vm-disks-001"}, count: 4, want: "not enough nodes"},
		{name: "count below one", group: "vm-disks", res: []string{"vm-disks-001"}, count: 0, want: "below 1"},
		{name: "injected fault", arrange: func(s *memory.Storage) { s.Fail(memory.MethodPlace, boom, 1) },
			group: "vm-disks", res: []string{"vm-disks-001"}, count: 3, is: boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := memory.StorageFromProfile(profile(), 2)
			if tt.arrange != nil {
				tt.arrange(s)
			}
			before, _ := s.Group("vm-disks")
			err := s.Place(ctx, tt.group, tt.res, tt.count)
			require.Error(t, err)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			if tt.want != "" {
				assert.ErrorContains(t, err, tt.want)
			}
			after, _ := s.Group("vm-disks")
			assert.Equal(t, before, after, "a refused Place changes nothing")
			assert.Empty(t, s.Mutations())
			calls := s.Calls()
			require.Len(t, calls, 1)
			assert.NotEmpty(t, calls[0].Err)
		})
	}
}

func TestFaultCountsDown(t *testing.T) {
	ctx := context.Background()
	s := memory.StorageFromProfile(profile(), 1)
	boom := errors.New("boom")
	s.Fail(memory.MethodResourceGroup, boom, 2)
	_, err := s.ResourceGroup(ctx, "vm-disks")
	assert.ErrorIs(t, err, boom)
	_, err = s.ResourceGroup(ctx, "vm-disks")
	assert.ErrorIs(t, err, boom)
	_, err = s.ResourceGroup(ctx, "vm-disks")
	assert.NoError(t, err, "the fault is used up")

	s.Fail(memory.MethodSetPlaceCount, boom, 0)
	for range 3 {
		assert.ErrorIs(t, s.SetPlaceCount(ctx, "vm-disks", 3), boom)
	}
	s.Fail(memory.MethodSetPlaceCount, nil, 0)
	assert.NoError(t, s.SetPlaceCount(ctx, "vm-disks", 3))
}

func TestNeverSync(t *testing.T) {
	ctx := context.Background()
	s := memory.StorageFromProfile(profile(), 2)
	s.SetSyncAfter(1)
	s.NeverSync("vm-disks-002", true)
	require.NoError(t, s.Place(ctx, "vm-disks", []string{"vm-disks-001", "vm-disks-002"}, 3))
	for range 5 {
		_, err := s.ResourceGroup(ctx, "vm-disks")
		require.NoError(t, err)
	}
	g, _ := s.Group("vm-disks")
	assert.Equal(t, 3, g.Resources[0].InSync())
	assert.Equal(t, 2, g.Resources[1].InSync(), "the stuck resource stays in SyncTarget")

	s.NeverSync("vm-disks-002", false)
	_, err := s.ResourceGroup(ctx, "vm-disks")
	require.NoError(t, err)
	g, _ = s.Group("vm-disks")
	assert.Equal(t, 3, g.Resources[1].InSync())
}

func TestSetPlaceCountAndReplicas(t *testing.T) {
	ctx := context.Background()
	s := memory.StorageFromProfile(profile(), 1)
	require.NoError(t, s.SetPlaceCount(ctx, "vm-disks", 3))
	require.NoError(t, s.SetPlaceCount(ctx, "vm-disks", 3))
	assert.ErrorIs(t, s.SetPlaceCount(ctx, "nope", 3), memory.ErrNotFound)
	assert.Error(t, s.SetPlaceCount(ctx, "vm-disks", 0))
	g, _ := s.Group("vm-disks")
	assert.Equal(t, 3, g.PlaceCount)
	assert.Len(t, s.Mutations(), 1, "only the first SetPlaceCount changed the count")

	require.NoError(t, s.SetReplicas("vm-disks", "vm-disks-009", backend.Replica{Node: "node-a", State: "Outdated"}))
	g, _ = s.Group("vm-disks")
	require.Len(t, g.Resources, 2)
	assert.Equal(t, []string{"node-a=Outdated"}, replicas(g.Resources[1]))
	assert.ErrorIs(t, s.SetReplicas("nope", "x"), memory.ErrNotFound)

	s.AddGroup("small", 3, []string{"n1", "n2"}, "small-1")
	g, _ = s.Group("small")
	assert.Len(t, g.Resources[0].Replicas, 2, "no more replicas than nodes")
}

func TestStorageIsSafeForConcurrentUse(t *testing.T) {
	ctx := context.Background()
	s := memory.StorageFromProfile(profile(), 20)
	s.SetSyncAfter(1)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			res := fmt.Sprintf("vm-disks-%03d", i+1)
			assert.NoError(t, s.Place(ctx, "vm-disks", []string{res}, 3))
			_, err := s.ResourceGroup(ctx, "vm-disks")
			assert.NoError(t, err)
			_ = s.Calls()
		})
	}
	wg.Wait()
	_, err := s.ResourceGroup(ctx, "vm-disks")
	require.NoError(t, err)
	g, _ := s.Group("vm-disks")
	for _, r := range g.Resources {
		assert.Equal(t, 3, r.InSync(), r.Name)
	}
	assert.Len(t, s.Mutations(), 20)
}
