package linstor_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler/backend"
	"github.com/nodewright/nodewright/reconciler/backend/linstor"
	"github.com/nodewright/nodewright/test/linstoremu"
)

const gib = 1 << 20 // KiB

// site is an emulated LINSTOR of four nodes with pool "thin" (n4 with
// less room), group "rg" (place count 2) with vm-1 on n1, n2 and vm-2 on
// n2, n3, and group "other" with a resource of its own.
func site(t *testing.T, opts ...linstoremu.Option) (*linstoremu.Emulator, *linstor.Storage) {
	t.Helper()
	emu := linstoremu.New(t, opts...)
	for i := 1; i <= 4; i++ {
		n := fmt.Sprintf("n%d", i)
		require.NoError(t, emu.AddNode(n))
		free := int64(100 * gib)
		if i == 4 {
			free = 50 * gib
		}
		require.NoError(t, emu.AddStoragePool(n, "thin", free, 100*gib))
	}
	require.NoError(t, emu.AddResourceGroup("rg", "thin", 2))
	require.NoError(t, emu.AddResourceGroup("other", "thin", 1))
	require.NoError(t, emu.AddResource("rg", "vm-1", 10*gib, "n1", "n2"))
	require.NoError(t, emu.AddResource("rg", "vm-2", 20*gib, "n2", "n3"))
	require.NoError(t, emu.AddResource("other", "db-1", 1*gib, "n4"))
	return emu, storage(t, emu, 5*time.Second)
}

func storage(t *testing.T, emu *linstoremu.Emulator, timeout time.Duration) *linstor.Storage {
	t.Helper()
	s, err := linstor.New(linstor.Config{Controllers: []string{emu.URL()}, Timeout: timeout})
	require.NoError(t, err)
	return s
}

func TestResourceGroupShapes(t *testing.T) {
	_, s := site(t)
	g, err := s.ResourceGroup(context.Background(), "rg")
	require.NoError(t, err)
	established := func(node string) backend.PeerSync {
		return backend.PeerSync{Node: node, Connection: "Connected", Replication: "Established", DonePercent: -1}
	}
	assert.Equal(t, &backend.ResourceGroup{Name: "rg", PlaceCount: 2, Resources: []backend.Resource{
		{Name: "vm-1", SizeKiB: 10 * gib, Replicas: []backend.Replica{
			{Node: "n1", State: backend.UpToDate, Peers: []backend.PeerSync{established("n2")}},
			{Node: "n2", State: backend.UpToDate, Peers: []backend.PeerSync{established("n1")}},
		}},
		{Name: "vm-2", SizeKiB: 20 * gib, Replicas: []backend.Replica{
			{Node: "n2", State: backend.UpToDate, Peers: []backend.PeerSync{established("n3")}},
			{Node: "n3", State: backend.UpToDate, Peers: []backend.PeerSync{established("n2")}},
		}},
	}}, g, "the other group's db-1 is not listed")
}

func TestPlaceSyncsAndIsIdempotent(t *testing.T) {
	emu, s := site(t, linstoremu.WithSyncRate(10))
	ctx := context.Background()
	emu.ResetCalls()
	require.NoError(t, s.Place(ctx, "rg", []string{"vm-1", "vm-2"}, 3))
	muts := emu.Mutations()
	require.Len(t, muts, 2, "one autoplace per resource")
	for i, res := range []string{"vm-1", "vm-2"} {
		assert.Equal(t, "POST", muts[i].Method)
		assert.Equal(t, "/v1/resource-definitions/"+res+"/autoplace", muts[i].Path)
		assert.Contains(t, muts[i].Body, `"place_count":3`)
		assert.Contains(t, muts[i].Body, `"storage_pool":"thin"`)
		require.Len(t, muts[i].Placed, 1)
	}
	for _, c := range emu.Calls() {
		assert.NotEqual(t, "PUT", c.Method, "the group is never modified to place")
	}

	g, err := s.ResourceGroup(ctx, "rg")
	require.NoError(t, err)
	vm1 := g.Resources[0]
	require.Len(t, vm1.Replicas, 3)
	assert.Equal(t, 2, vm1.InSync())
	newNode := emu.Mutations()[0].Placed[0].Node
	var fresh, source backend.Replica
	for _, r := range vm1.Replicas {
		switch r.Node {
		case newNode:
			fresh = r
		case "n1": // the emulator resyncs from the first UpToDate peer
			source = r
		}
	}
	assert.Equal(t, "Inconsistent", fresh.State)
	require.Len(t, fresh.Peers, 2)
	assert.Equal(t, backend.PeerSync{Node: "n1", Connection: "Connected", Replication: "SyncTarget", DonePercent: 0}, fresh.Peers[0])

	emu.Advance(4 * time.Second)
	g, err = s.ResourceGroup(ctx, "rg")
	require.NoError(t, err)
	for _, r := range g.Resources[0].Replicas {
		if r.Node == newNode {
			fresh = r
		}
		if r.Node == source.Node {
			source = r
		}
	}
	assert.Equal(t, "Inconsistent", fresh.State)
	assert.Equal(t, "SyncTarget", fresh.Peers[0].Replication)
	assert.InDelta(t, 40, fresh.Peers[0].DonePercent, 0.01, "done_percentage while syncing")
	i := indexOf(source.Peers, newNode)
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, "SyncSource", source.Peers[i].Replication)
	assert.InDelta(t, 40, source.Peers[i].DonePercent, 0.01)

	emu.ResetCalls()
	require.NoError(t, s.Place(ctx, "rg", []string{"vm-1", "vm-2"}, 3), "already deployed is success")
	assert.Empty(t, emu.Mutations(), "a repeat changes nothing")

	emu.Advance(10 * time.Second)
	g, err = s.ResourceGroup(ctx, "rg")
	require.NoError(t, err)
	for _, r := range g.Resources {
		assert.Equal(t, 3, r.InSync(), r.Name)
	}
}

func indexOf(peers []backend.PeerSync, node string) int {
	for i, p := range peers {
		if p.Node == node {
			return i
		}
	}
	return -1
}

func TestPlaceRefused(t *testing.T) {
	emu, s := site(t)
	ctx := context.Background()
	emu.ResetCalls()
	err := s.Place(ctx, "rg", []string{"vm-1"}, 5)
	var ref *backend.RefusedError
	require.ErrorAs(t, err, &ref)
	assert.Contains(t, ref.Op, "vm-1")
	assert.Contains(t, ref.Message, "Not enough available nodes")
	assert.Empty(t, emu.Mutations(), "nothing placed")

	err = s.Place(ctx, "rg", []string{"vm-1"}, 1)
	require.ErrorAs(t, err, &ref, "fewer than placed: LINSTOR would have to delete")
	assert.Contains(t, ref.Error(), "would have to be deleted")
	assert.Contains(t, ref.Op, "vm-1")

	err = s.Place(ctx, "rg", []string{"db-1"}, 2)
	require.ErrorAs(t, err, &ref, "another group's resource")
	assert.Contains(t, ref.Message, "resource db-1 is in resource group other, not rg")

	require.ErrorAs(t, s.Place(ctx, "rg", []string{"vm-1"}, 0), &ref)
	require.ErrorAs(t, s.SetPlaceCount(ctx, "rg", 0), &ref)
	assert.Empty(t, emu.Mutations())
}

func TestNotFound(t *testing.T) {
	_, s := site(t)
	ctx := context.Background()
	var nf *backend.NotFoundError
	_, err := s.ResourceGroup(ctx, "nope")
	require.ErrorAs(t, err, &nf)
	assert.Equal(t, backend.NotFoundError{Kind: "resource group", Name: "nope"}, *nf)
	require.ErrorAs(t, s.Place(ctx, "nope", []string{"vm-1"}, 3), &nf)
	assert.Equal(t, backend.NotFoundError{Kind: "resource group", Name: "nope"}, *nf)
	require.ErrorAs(t, s.SetPlaceCount(ctx, "nope", 3), &nf)
	assert.Equal(t, backend.NotFoundError{Kind: "resource group", Name: "nope"}, *nf)
	require.ErrorAs(t, s.Place(ctx, "rg", []string{"vm-1", "vm-9"}, 3), &nf)
	assert.Equal(t, backend.NotFoundError{Kind: "resource", Name: "vm-9"}, *nf)
}

func TestServerErrorIsTransient(t *testing.T) {
	emu, s := site(t)
	ctx := context.Background()
	emu.FailNext("GET", "/v1/view/resources", 1)
	_, err := s.ResourceGroup(ctx, "rg")
	var tr *backend.TransientError
	require.ErrorAs(t, err, &tr)
	assert.Contains(t, tr.Error(), "500")
	assert.Contains(t, tr.Error(), "Injected controller failure")

	emu.FailNext("POST", "/v1/resource-definitions/*/autoplace", 1)
	require.ErrorAs(t, s.Place(ctx, "rg", []string{"vm-1"}, 3), &tr)
	assert.Contains(t, tr.Op, "autoplace vm-1")
	require.NoError(t, s.Place(ctx, "rg", []string{"vm-1"}, 3), "the retry goes through")
}

func TestHangingControllerIsTransientWithinTheTimeout(t *testing.T) {
	emu, _ := site(t)
	const timeout = 300 * time.Millisecond
	s := storage(t, emu, timeout)
	emu.HangNext("", "/v1/resource-groups/*", 1, 0) // until the client gives up
	start := time.Now()
	_, err := s.ResourceGroup(context.Background(), "rg")
	elapsed := time.Since(start)
	var tr *backend.TransientError
	require.ErrorAs(t, err, &tr)
	assert.Contains(t, tr.Error(), "no answer within 300ms")
	assert.GreaterOrEqual(t, elapsed, timeout)
	assert.Less(t, elapsed, 10*timeout, "the configured timeout bounds the call")

	emu.HangNext("POST", "/v1/resource-definitions/*/autoplace", 1, 0)
	require.ErrorAs(t, s.Place(context.Background(), "rg", []string{"vm-1"}, 3), &tr)
	assert.Empty(t, emu.Mutations(), "the abandoned autoplace changed nothing")
}

func TestStoragePools(t *testing.T) {
	emu, s := site(t)
	require.NoError(t, emu.SetNodeOnline("n3", false))
	require.NoError(t, emu.AddNode("n5")) // no pool "thin"
	pools, err := s.StoragePools(context.Background(), "thin")
	require.NoError(t, err)
	assert.Equal(t, []backend.NodePool{
		{Node: "n1", Online: true, Status: "ONLINE", HasPool: true, FreeKiB: 90 * gib},
		{Node: "n2", Online: true, Status: "ONLINE", HasPool: true, FreeKiB: 70 * gib},
		{Node: "n3", Online: false, Status: "OFFLINE", HasPool: true, FreeKiB: 80 * gib},
		{Node: "n4", Online: true, Status: "ONLINE", HasPool: true, FreeKiB: 49 * gib},
		{Node: "n5", Online: true, Status: "ONLINE"},
	}, pools)
}

func TestOfflineAndStuckReplicas(t *testing.T) {
	emu, s := site(t)
	ctx := context.Background()
	require.NoError(t, emu.SetNodeOnline("n1", false))
	require.NoError(t, s.Place(ctx, "rg", []string{"vm-2"}, 3))
	placed := emu.Mutations()[0].Placed[0].Node
	require.Equal(t, "n4", placed, "the one online node left")
	require.NoError(t, emu.SetReplicationState("vm-2", placed, "n2", "WFBitMapT"))
	g, err := s.ResourceGroup(ctx, "rg")
	require.NoError(t, err)

	vm1 := g.Resources[0]
	assert.Equal(t, "DUnknown", vm1.Replicas[0].State, "an offline satellite reports no disk state")
	assert.Nil(t, vm1.Replicas[0].Peers)
	require.Len(t, vm1.Replicas[1].Peers, 1)
	assert.Equal(t, backend.PeerSync{Node: "n1", Connection: "Connecting", Replication: "Off", DonePercent: -1}, vm1.Replicas[1].Peers[0])

	for _, r := range g.Resources[1].Replicas {
		if r.Node != placed {
			continue
		}
		assert.Equal(t, "Inconsistent", r.State)
		i := indexOf(r.Peers, "n2")
		require.GreaterOrEqual(t, i, 0)
		assert.Equal(t, "WFBitMapT", r.Peers[i].Replication)
		assert.Equal(t, "Connected", r.Peers[i].Connection)
	}

	require.NoError(t, emu.SetNodeOnline("n1", true))
	require.NoError(t, emu.SetStandAlone("vm-1", "n2", true))
	g, err = s.ResourceGroup(ctx, "rg")
	require.NoError(t, err)
	assert.Equal(t, "StandAlone", g.Resources[0].Replicas[1].Peers[0].Connection)
	assert.Equal(t, "Connecting", g.Resources[0].Replicas[0].Peers[0].Connection)
}

func TestSetPlaceCountAfterPlacePlacesNothing(t *testing.T) {
	emu, s := site(t, linstoremu.WithInstantSync())
	ctx := context.Background()
	require.NoError(t, s.Place(ctx, "rg", []string{"vm-1", "vm-2"}, 3))
	emu.ResetCalls()
	require.NoError(t, s.SetPlaceCount(ctx, "rg", 3))
	calls := emu.Calls()
	require.Len(t, calls, 1)
	assert.Equal(t, "PUT", calls[0].Method)
	assert.Equal(t, `{"select_filter":{"place_count":3}}`, calls[0].Body, "only the place count is sent: the group keeps its pool")
	assert.Empty(t, calls[0].Placed, "Place came first: the modify finds nothing short")
	g, err := s.ResourceGroup(ctx, "rg")
	require.NoError(t, err)
	assert.Equal(t, 3, g.PlaceCount)
	require.NoError(t, s.Place(ctx, "rg", []string{"vm-1"}, 3), "the group's pool is still thin")

	// The other order, for contrast: the modify itself places every
	// short resource, all in one request (linstor-server#253).
	emu.ResetCalls()
	require.NoError(t, s.SetPlaceCount(ctx, "rg", 4))
	calls = emu.Calls()
	require.Len(t, calls, 1)
	assert.Len(t, calls[0].Placed, 2, "one PUT placed a replica of each resource")
}

func TestResourceGroupRequestsDoNotGrowWithResources(t *testing.T) {
	count := func(resources int) int {
		emu := linstoremu.New(t)
		for i := 1; i <= 3; i++ {
			n := fmt.Sprintf("n%d", i)
			require.NoError(t, emu.AddNode(n))
			require.NoError(t, emu.AddStoragePool(n, "thin", 1<<40, 1<<40))
		}
		require.NoError(t, emu.AddResourceGroup("rg", "thin", 2))
		for i := range resources {
			require.NoError(t, emu.AddResource("rg", fmt.Sprintf("pvc-%04d-%s", i, strings.Repeat("x", 30)), gib))
		}
		s := storage(t, emu, 5*time.Second)
		emu.ResetCalls()
		g, err := s.ResourceGroup(context.Background(), "rg")
		require.NoError(t, err)
		require.Len(t, g.Resources, resources)
		for _, r := range g.Resources {
			require.Len(t, r.Replicas, 2)
		}
		views := 0
		for _, c := range emu.Calls() {
			if c.Path == "/v1/view/resources" {
				views++
				// A short list is named; a long one is read whole and filtered.
				assert.Equal(t, resources <= 50, strings.Contains(c.Query, "resources="), c.Query)
			}
		}
		assert.Equal(t, 1, views, "one resource view for %d resources", resources)
		return len(emu.Calls())
	}
	few, many := count(10), count(200)
	assert.Equal(t, 3, few)
	assert.Equal(t, few, many, "requests of ResourceGroup for 10 and 200 resources")
}

// TestNamesThatAreNotLINSTORsAreRefusedUnsent tries names that would reach
// another path or query of the controller's API: each is refused before
// any request.
func TestNamesThatAreNotLINSTORsAreRefusedUnsent(t *testing.T) {
	emu, s := site(t)
	emu.ResetCalls()
	ctx := context.Background()
	for _, name := range []string{"../nodes", "rg/../../v1/nodes", "rg?x=1", "rg%2F..", "rg#", "rg x", "", strings.Repeat("a", 49)} {
		var refused *backend.RefusedError
		if name != "" {
			_, err := s.ResourceGroup(ctx, name)
			assert.True(t, errors.As(err, &refused), "ResourceGroup(%q): %v", name, err)
			assert.True(t, errors.As(s.SetPlaceCount(ctx, name, 3), &refused), "SetPlaceCount(%q)", name)
			_, err = s.StoragePools(ctx, name)
			assert.True(t, errors.As(err, &refused), "StoragePools(%q): %v", name, err)
		}
		assert.True(t, errors.As(s.Place(ctx, name, []string{"r1"}, 3), &refused) || name == "", "Place in %q", name)
	}
	for _, c := range emu.Calls() {
		assert.NotContains(t, c.Path, "nodes/", "no crafted path reached the controller: %s", c.Path)
		assert.NotEqual(t, "PUT", c.Method, "nothing modified")
		assert.NotContains(t, c.Path, "autoplace", "nothing placed")
	}
	// A resource name is checked against the group's own resources first.
	err := s.Place(ctx, "rg", []string{"vm-1/../../x"}, 3)
	var notFound *backend.NotFoundError
	assert.True(t, errors.As(err, &notFound), "a crafted resource name: %v", err)
	assert.Empty(t, emu.Mutations())
}
