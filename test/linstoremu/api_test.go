package linstoremu_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	linstor "github.com/LINBIT/golinstor"
	"github.com/LINBIT/golinstor/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/test/linstoremu"
)

func TestShapesDecode(t *testing.T) {
	e, c := cluster(t, nil, "vm-a", "vm-b")
	ctx := ctxT(t)

	nodes, err := c.Nodes.GetAll(ctx, &client.ListOpts{})
	require.NoError(t, err)
	require.Len(t, nodes, 4)
	assert.Equal(t, "n1", nodes[0].Name)
	assert.Equal(t, "SATELLITE", nodes[0].Type)
	assert.Equal(t, "ONLINE", nodes[0].ConnectionStatus)
	nodes, err = c.Nodes.GetAll(ctx, &client.ListOpts{Node: []string{"n2", "n4"}})
	require.NoError(t, err)
	require.Len(t, nodes, 2)
	assert.Equal(t, []string{"n2", "n4"}, []string{nodes[0].Name, nodes[1].Name})
	nodes, err = c.Nodes.GetAll(ctx, &client.ListOpts{Offset: 1, Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, []string{"n2", "n3"}, []string{nodes[0].Name, nodes[1].Name})

	pools, err := c.Nodes.GetStoragePoolView(ctx, &client.ListOpts{StoragePool: []string{"thin"}, Node: []string{"n3"}})
	require.NoError(t, err)
	require.Len(t, pools, 1)
	assert.Equal(t, "thin", pools[0].StoragePoolName)
	assert.Equal(t, "n3", pools[0].NodeName)
	assert.Equal(t, client.LVM_THIN, pools[0].ProviderKind)
	assert.Equal(t, int64(98<<20), pools[0].FreeCapacity)
	assert.Equal(t, int64(100<<20), pools[0].TotalCapacity)
	all, err := c.Nodes.GetStoragePoolView(ctx, &client.ListOpts{Node: []string{"n1"}})
	require.NoError(t, err)
	require.Len(t, all, 2, "LINSTOR's diskless pool is on every node")
	assert.Equal(t, "DfltDisklessStorPool", all[0].StoragePoolName)
	assert.Equal(t, client.DISKLESS, all[0].ProviderKind)
	assert.Equal(t, int64(100<<20-2*(10<<20)), all[1].FreeCapacity, "two seeded replicas took their space")

	rg, err := c.ResourceGroups.Get(ctx, "rg")
	require.NoError(t, err)
	assert.Equal(t, "rg", rg.Name)
	assert.Equal(t, int32(2), rg.SelectFilter.PlaceCount)
	assert.Equal(t, "thin", rg.SelectFilter.StoragePool)
	assert.NotEmpty(t, rg.Uuid)

	rds, err := c.ResourceDefinitions.GetAll(ctx, client.RDGetAllRequest{WithVolumeDefinitions: true})
	require.NoError(t, err)
	require.Len(t, rds, 2)
	assert.Equal(t, "vm-a", rds[0].Name)
	assert.Equal(t, "rg", rds[0].ResourceGroupName)
	require.Len(t, rds[0].VolumeDefinitions, 1)
	require.NotNil(t, rds[0].VolumeDefinitions[0].VolumeNumber)
	assert.Equal(t, int32(0), *rds[0].VolumeDefinitions[0].VolumeNumber)
	assert.Equal(t, uint64(10<<20), rds[0].VolumeDefinitions[0].SizeKib)
	rds, err = c.ResourceDefinitions.GetAll(ctx, client.RDGetAllRequest{ResourceDefinitions: []string{"vm-b"}, Limit: 5})
	require.NoError(t, err)
	assert.Empty(t, rds, "golinstor sends Limit as an offset")
	rds, err = c.ResourceDefinitions.GetAll(ctx, client.RDGetAllRequest{ResourceDefinitions: []string{"vm-b"}})
	require.NoError(t, err)
	require.Len(t, rds, 1)
	assert.Equal(t, "vm-b", rds[0].Name)
	assert.Empty(t, rds[0].VolumeDefinitions)

	res, err := c.Resources.GetAll(ctx, "vm-a")
	require.NoError(t, err)
	require.Len(t, res, 2)
	assert.Equal(t, "n1", res[0].NodeName)
	require.NotNil(t, res[0].LayerObject)
	require.NotNil(t, res[0].LayerObject.Drbd)
	assert.Equal(t, client.DrbdConnection{Connected: true, Message: "Connected"}, res[0].LayerObject.Drbd.Connections["n2"])

	vw, err := c.Resources.GetResourceView(ctx, &client.ListOpts{Resource: []string{"vm-b"}, Node: []string{"n2"}})
	require.NoError(t, err)
	require.Len(t, vw, 1)
	assert.Equal(t, "vm-b", vw[0].Name)
	require.Len(t, vw[0].Volumes, 1)
	assert.Equal(t, "thin", vw[0].Volumes[0].StoragePoolName)
	assert.Equal(t, int64(10<<20), vw[0].Volumes[0].UsableSizeKib)
	assert.Equal(t, "UpToDate", vw[0].Volumes[0].State.DiskState)
	vw, err = c.Resources.GetResourceView(ctx, &client.ListOpts{})
	require.NoError(t, err)
	assert.Len(t, vw, 4)

	st, err := c.ResourceDefinitions.SyncStatus(ctx, "vm-a")
	require.NoError(t, err)
	assert.True(t, st.SyncedOnAll)

	// replication_states, which golinstor does not decode.
	v := view(t, e, "vm-a")
	assert.Equal(t, "Established", v["n1"].Volumes[0].State.ReplicationStates["n2"].ReplicationState)
	assert.Nil(t, v["n1"].Volumes[0].State.ReplicationStates["n2"].DonePercentage)
	assert.Empty(t, e.Mutations(), "reads change nothing")
}

func TestNotFound(t *testing.T) {
	e, c := cluster(t, nil, "vm-a")
	ctx := ctxT(t)

	_, err := c.ResourceGroups.Get(ctx, "nope")
	assert.ErrorIs(t, err, client.NotFoundError)
	err = c.ResourceGroups.Modify(ctx, "nope", client.ResourceGroupModify{SelectFilter: client.AutoSelectFilter{PlaceCount: 3}})
	assert.ErrorIs(t, err, client.NotFoundError)
	assert.ErrorIs(t, autoplace(ctx, c, "nope", 3), client.NotFoundError)
	_, err = c.ResourceDefinitions.SyncStatus(ctx, "nope")
	assert.ErrorIs(t, err, client.NotFoundError)
	_, err = c.Resources.GetAll(ctx, "nope")
	assert.ErrorIs(t, err, client.NotFoundError)

	// golinstor does not read a 404's body; LINSTOR's is still an array.
	status, body := do(t, e, http.MethodGet, "/v1/resource-groups/nope", "")
	assert.Equal(t, http.StatusNotFound, status)
	assert.True(t, rcs(t, body).Is(linstor.FailNotFoundRscGrp))
	status, body = do(t, e, http.MethodPost, "/v1/resource-definitions/nope/autoplace", `{"select_filter":{}}`)
	assert.Equal(t, http.StatusNotFound, status)
	assert.True(t, rcs(t, body).Is(linstor.FailNotFoundRscDfn))

	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/v1/nope", http.StatusNotFound},
		{http.MethodGet, "/v1/resource-definitions/vm-a/nope", http.StatusNotFound},
		{http.MethodDelete, "/v1/nodes", http.StatusMethodNotAllowed},
		{http.MethodPost, "/v1/resource-groups/rg", http.StatusMethodNotAllowed},
		{http.MethodGet, "/v1/resource-definitions/vm-a/autoplace", http.StatusMethodNotAllowed},
	} {
		status, body := do(t, e, tc.method, tc.path, "")
		assert.Equal(t, tc.status, status, "%s %s", tc.method, tc.path)
		assert.True(t, rcs(t, body).Is(linstor.FailInvldRequest), "%s %s: %s", tc.method, tc.path, body)
	}
}

func TestAutoplace(t *testing.T) {
	t.Run("adds on the online node with most room and takes the space", func(t *testing.T) {
		e, c := cluster(t, nil, "vm-a")
		require.NoError(t, autoplace(ctxT(t), c, "vm-a", 3))
		assert.Equal(t, []string{"n1", "n2", "n3"}, e.ReplicaNodes("vm-a"))
		free, _ := e.PoolFree("n3", "thin")
		assert.Equal(t, int64(98<<20-10<<20), free)
		m := e.Mutations()
		require.Len(t, m, 1)
		assert.Equal(t, []linstoremu.Placement{{Resource: "vm-a", Node: "n3"}}, m[0].Placed)
		assert.Equal(t, http.StatusCreated, m[0].Status)
		assert.JSONEq(t, `{"select_filter":{"place_count":3}}`, m[0].Body)
	})
	t.Run("already deployed is a warning and a no-op", func(t *testing.T) {
		e, c := cluster(t, nil, "vm-a")
		require.NoError(t, autoplace(ctxT(t), c, "vm-a", 2), "golinstor ignores a 201's warnings")
		status, body := do(t, e, http.MethodPost, "/v1/resource-definitions/vm-a/autoplace", `{"select_filter":{"place_count":2}}`)
		assert.Equal(t, http.StatusCreated, status)
		got := rcs(t, body)
		assert.True(t, got.Is(linstor.WarnRscAlreadyDeployed), "%s", body)
		assert.False(t, got.Is(linstor.MaskError|linstor.WarnRscAlreadyDeployed&linstor.MaskBitsCode), "a warning, not an error")
		assert.Equal(t, uint64(linstor.WarnRscAlreadyDeployed), uint64(got[0].RetCode))
		assert.Contains(t, got[0].Message, "already deployed on 2 nodes")
		assert.Contains(t, got[0].Message, "Skipping.")
		assert.Empty(t, e.Mutations())
		assert.Equal(t, []string{"n1", "n2"}, e.ReplicaNodes("vm-a"))
	})
	t.Run("a place count below the replicas is an error", func(t *testing.T) {
		e, c := cluster(t, nil, "vm-a")
		err := autoplace(ctxT(t), c, "vm-a", 1)
		require.Error(t, err)
		assert.True(t, client.IsApiCallError(err, linstor.FailInvldPlaceCount), "%v", err)
		var ace client.ApiCallError
		require.ErrorAs(t, err, &ace)
		assert.True(t, ace.Is(linstor.FailInvldPlaceCount))
		assert.Contains(t, ace[0].Message, "would have to be deleted from nodes to reach the placement count")
		status, _ := do(t, e, http.MethodPost, "/v1/resource-definitions/vm-a/autoplace", `{"select_filter":{"place_count":1}}`)
		assert.Equal(t, http.StatusInternalServerError, status)
		assert.Empty(t, e.Mutations())
	})
	t.Run("not enough nodes places nothing", func(t *testing.T) {
		e, c := cluster(t, nil, "vm-a")
		err := autoplace(ctxT(t), c, "vm-a", 5)
		assert.True(t, client.IsApiCallError(err, linstor.FailNotEnoughNodes), "%v", err)
		assert.False(t, client.IsApiCallError(err, linstor.FailNotFoundRscDfn))
		var ace client.ApiCallError
		require.ErrorAs(t, err, &ace)
		assert.Equal(t, "Not enough available nodes", ace[0].Message)
		assert.NotEmpty(t, ace[0].Details)
		assert.Equal(t, uint64(linstor.MaskError), uint64(ace[0].RetCode)&linstor.MaskError)
		assert.Equal(t, []string{"n1", "n2"}, e.ReplicaNodes("vm-a"))
		free, _ := e.PoolFree("n3", "thin")
		assert.Equal(t, int64(98<<20), free)
		calls := e.Calls()
		assert.Equal(t, http.StatusInternalServerError, calls[len(calls)-1].Status)
		assert.Empty(t, e.Mutations())
	})
	t.Run("offline nodes and full pools are no candidates", func(t *testing.T) {
		e, c := cluster(t, nil, "vm-a")
		require.NoError(t, e.SetNodeOnline("n3", false))
		require.NoError(t, e.SetPoolFree("n4", "thin", 10<<20-1))
		err := autoplace(ctxT(t), c, "vm-a", 3)
		assert.True(t, client.IsApiCallError(err, linstor.FailNotEnoughNodes), "%v", err)
		require.NoError(t, e.SetPoolFree("n4", "thin", 10<<20))
		require.NoError(t, autoplace(ctxT(t), c, "vm-a", 3))
		assert.Equal(t, []string{"n1", "n2", "n4"}, e.ReplicaNodes("vm-a"))
		free, _ := e.PoolFree("n4", "thin")
		assert.Equal(t, int64(0), free)
	})
	t.Run("place count defaults to the group's, then two", func(t *testing.T) {
		e, c := cluster(t, nil)
		require.NoError(t, e.AddResourceGroup("bare", "thin", 0))
		require.NoError(t, e.AddResource("bare", "one", 1<<20, "n4"))
		require.NoError(t, c.Resources.Autoplace(ctxT(t), "one", client.AutoPlaceRequest{}))
		assert.Len(t, e.ReplicaNodes("one"), 2)
	})
	t.Run("a malformed body is a 400", func(t *testing.T) {
		e, _ := cluster(t, nil, "vm-a")
		for _, body := range []string{`{`, `[]`, `{"select_filter":{"place_count":"3"}}`, ``, `{}`, `{"select_filter":{}} x`} {
			status, got := do(t, e, http.MethodPost, "/v1/resource-definitions/vm-a/autoplace", body)
			assert.Equal(t, http.StatusBadRequest, status, "%q", body)
			assert.True(t, rcs(t, got).Is(linstor.FailInvldRequest))
			status, _ = do(t, e, http.MethodPut, "/v1/resource-groups/rg", body)
			if body != `{}` {
				assert.Equal(t, http.StatusBadRequest, status, "PUT %q", body)
			}
		}
		assert.Empty(t, e.Mutations())
	})
}

func TestSyncAdvancesWithTheClock(t *testing.T) {
	e, c := cluster(t, []linstoremu.Option{linstoremu.WithSyncRate(10)}, "vm-a", "vm-b")
	ctx := ctxT(t)
	require.NoError(t, autoplace(ctx, c, "vm-a", 3))

	v := view(t, e, "vm-a")
	assert.Equal(t, "Inconsistent", v["n3"].Volumes[0].State.DiskState)
	rs := v["n3"].Volumes[0].State.ReplicationStates
	assert.Equal(t, "SyncTarget", rs["n1"].ReplicationState, "it syncs from the first UpToDate peer")
	require.NotNil(t, rs["n1"].DonePercentage)
	assert.InDelta(t, 0, *rs["n1"].DonePercentage, 1e-9)
	assert.Equal(t, "Established", rs["n2"].ReplicationState)
	assert.Equal(t, "SyncSource", v["n1"].Volumes[0].State.ReplicationStates["n3"].ReplicationState)
	assert.Equal(t, "UpToDate", v["n1"].Volumes[0].State.DiskState)
	st, err := c.ResourceDefinitions.SyncStatus(ctx, "vm-a")
	require.NoError(t, err)
	assert.False(t, st.SyncedOnAll)

	e.Advance(4 * time.Second)
	v = view(t, e, "vm-a")
	assert.InDelta(t, 40, *v["n3"].Volumes[0].State.ReplicationStates["n1"].DonePercentage, 1e-9)
	assert.InDelta(t, 40, *v["n1"].Volumes[0].State.ReplicationStates["n3"].DonePercentage, 1e-9)

	// A per-resource rate.
	require.NoError(t, e.SetSyncRate("vm-b", 50))
	require.NoError(t, autoplace(ctx, c, "vm-b", 3))
	e.Advance(2 * time.Second)
	assert.Equal(t, []string{"n1", "n2", "n4"}, e.ReplicaNodes("vm-b"), "n4 has more room than n3 now")
	assert.Equal(t, "UpToDate", view(t, e, "vm-b")["n4"].Volumes[0].State.DiskState)
	v = view(t, e, "vm-a")
	assert.InDelta(t, 60, *v["n3"].Volumes[0].State.ReplicationStates["n1"].DonePercentage, 1e-9)

	e.Advance(4 * time.Second)
	v = view(t, e, "vm-a")
	assert.Equal(t, "UpToDate", v["n3"].Volumes[0].State.DiskState)
	for _, from := range []string{"n1", "n2", "n3"} {
		for peer, s := range v[from].Volumes[0].State.ReplicationStates {
			assert.Equal(t, "Established", s.ReplicationState, "%s→%s", from, peer)
			assert.Nil(t, s.DonePercentage)
			assert.True(t, v[from].LayerObject.Drbd.Connections[peer].Connected)
		}
	}
	st, err = c.ResourceDefinitions.SyncStatus(ctx, "vm-a")
	require.NoError(t, err)
	assert.True(t, st.SyncedOnAll)
	assert.Equal(t, 10*time.Second, e.Now())
}

func TestPollStepAdvancesOnEveryView(t *testing.T) {
	e, c := cluster(t, []linstoremu.Option{linstoremu.WithSyncRate(10), linstoremu.WithPollStep(4 * time.Second)}, "vm-a")
	ctx := ctxT(t)
	require.NoError(t, autoplace(ctx, c, "vm-a", 3))
	polls := 0
	for {
		res, err := c.Resources.GetResourceView(ctx, &client.ListOpts{Resource: []string{"vm-a"}, Node: []string{"n3"}})
		require.NoError(t, err)
		require.Len(t, res, 1)
		polls++
		if res[0].Volumes[0].State.DiskState == "UpToDate" {
			break
		}
		require.Less(t, polls, 10)
	}
	assert.Equal(t, 3, polls, "4 s of virtual time a poll at 10 %/s")
	assert.Equal(t, 12*time.Second, e.Now())
}

func TestInstantSyncThousandResources(t *testing.T) {
	e := linstoremu.New(t, linstoremu.WithInstantSync())
	for i := range 5 {
		n := fmt.Sprintf("n%d", i)
		require.NoError(t, e.AddNode(n))
		require.NoError(t, e.AddStoragePool(n, "thin", 1<<40, 1<<40))
	}
	require.NoError(t, e.AddResourceGroup("rg", "thin", 2))
	for i := range 1000 {
		require.NoError(t, e.AddResource("rg", fmt.Sprintf("pvc-%04d", i), 1<<20))
	}
	c := newClient(t, e, 10*time.Second)
	ctx := ctxT(t)
	require.NoError(t, c.ResourceGroups.Modify(ctx, "rg", client.ResourceGroupModify{SelectFilter: client.AutoSelectFilter{PlaceCount: 3}}))
	m := e.Mutations()
	require.Len(t, m, 1)
	assert.Len(t, m[0].Placed, 1000, "one PUT placed a replica of every resource")
	res, err := c.Resources.GetResourceView(ctx, &client.ListOpts{})
	require.NoError(t, err)
	require.Len(t, res, 3000)
	for _, r := range res {
		require.Equal(t, "UpToDate", r.Volumes[0].State.DiskState, "%s on %s", r.Name, r.NodeName)
	}
}

func TestResourceGroupModifyPlacesEveryShortResourceInOneRequest(t *testing.T) {
	t.Run("raised place count autoplaces inside the PUT", func(t *testing.T) {
		e, c := cluster(t, nil, "vm-a", "vm-b", "vm-c")
		require.NoError(t, e.AddResource("rg", "vm-full", 1<<20, "n2", "n3", "n4"))
		err := c.ResourceGroups.Modify(ctxT(t), "rg", client.ResourceGroupModify{SelectFilter: client.AutoSelectFilter{PlaceCount: 3}})
		require.NoError(t, err)
		m := e.Mutations()
		require.Len(t, m, 1)
		assert.Equal(t, http.MethodPut, m[0].Method)
		assert.Equal(t, []linstoremu.Placement{
			{Resource: "vm-a", Node: "n3"}, {Resource: "vm-b", Node: "n4"}, {Resource: "vm-c", Node: "n3"},
		}, m[0].Placed, "sequential in name order, each on the node with most room then, the full one skipped")
		pc, _ := e.PlaceCount("rg")
		assert.Equal(t, 3, pc)
		rg, err := c.ResourceGroups.Get(ctxT(t), "rg")
		require.NoError(t, err)
		assert.Equal(t, int32(3), rg.SelectFilter.PlaceCount)
	})
	t.Run("placing first leaves the PUT nothing to place", func(t *testing.T) {
		e, c := cluster(t, nil, "vm-a", "vm-b", "vm-c")
		ctx := ctxT(t)
		for _, rd := range []string{"vm-a", "vm-b", "vm-c"} {
			require.NoError(t, autoplace(ctx, c, rd, 3))
		}
		require.NoError(t, c.ResourceGroups.Modify(ctx, "rg", client.ResourceGroupModify{SelectFilter: client.AutoSelectFilter{PlaceCount: 3}}))
		m := e.Mutations()
		require.Len(t, m, 4)
		for i, rd := range []string{"vm-a", "vm-b", "vm-c"} {
			assert.Equal(t, "/v1/resource-definitions/"+rd+"/autoplace", m[i].Path, "each autoplace ran once")
			assert.Len(t, m[i].Placed, 1)
		}
		assert.Equal(t, http.MethodPut, m[3].Method)
		assert.Empty(t, m[3].Placed, "nothing further was placed")
		assert.Len(t, placed(e.Calls()), 3)
	})
	t.Run("an empty select filter changes nothing", func(t *testing.T) {
		e, c := cluster(t, nil, "vm-a")
		require.NoError(t, c.ResourceGroups.Modify(ctxT(t), "rg", client.ResourceGroupModify{Description: "x"}))
		assert.Empty(t, e.Mutations())
		pc, _ := e.PlaceCount("rg")
		assert.Equal(t, 2, pc)
	})
	t.Run("a failing autoplace fails the PUT and keeps what it placed", func(t *testing.T) {
		e, c := cluster(t, nil, "vm-a", "vm-b")
		require.NoError(t, e.SetPoolFree("n3", "thin", 15<<20))
		require.NoError(t, e.SetPoolFree("n4", "thin", 0))
		err := c.ResourceGroups.Modify(ctxT(t), "rg", client.ResourceGroupModify{SelectFilter: client.AutoSelectFilter{PlaceCount: 3}})
		assert.True(t, client.IsApiCallError(err, linstor.FailNotEnoughNodes), "%v", err)
		assert.Equal(t, []string{"n1", "n2", "n3"}, e.ReplicaNodes("vm-a"))
		assert.Equal(t, []string{"n1", "n2"}, e.ReplicaNodes("vm-b"))
		m := e.Mutations()
		require.Len(t, m, 1)
		assert.Equal(t, http.StatusInternalServerError, m[0].Status)
		assert.Equal(t, []linstoremu.Placement{{Resource: "vm-a", Node: "n3"}}, m[0].Placed)
	})
}

func TestSeedingErrors(t *testing.T) {
	e := linstoremu.New(t)
	require.NoError(t, e.AddNode("n1"))
	assert.Error(t, e.AddNode("n1"))
	assert.Error(t, e.AddStoragePool("nx", "thin", 1, 1))
	require.NoError(t, e.AddStoragePool("n1", "thin", 10, 10))
	assert.Error(t, e.AddStoragePool("n1", "thin", 1, 1))
	assert.Error(t, e.AddStoragePool("n1", "DfltDisklessStorPool", 1, 1))
	require.NoError(t, e.AddResourceGroup("rg", "thin", 2))
	assert.Error(t, e.AddResource("nope", "r", 1))
	assert.Error(t, e.AddResource("rg", "r", 1), "one node cannot hold two replicas")
	assert.Error(t, e.AddResource("rg", "r", 11, "n1"), "no room")
	require.NoError(t, e.AddResource("rg", "r", 10, "n1"))
	assert.Error(t, e.AddResource("rg", "r", 1, "n1"))
	assert.Error(t, e.SetStandAlone("r", "n2", true))
	assert.Error(t, e.SetReplicationState("r", "n1", "n2", "WFBitMapT"))
	assert.Error(t, e.StallSync("x", true))
	assert.Error(t, e.SetNodeOnline("x", false))
	assert.Error(t, e.SetPoolFree("n1", "x", 0))
	assert.Error(t, e.SetSyncRate("x", 1))
	free, ok := e.PoolFree("n1", "thin")
	assert.True(t, ok)
	assert.Equal(t, int64(0), free)
}
