package linstoremu_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	linstor "github.com/LINBIT/golinstor"
	"github.com/LINBIT/golinstor/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/test/linstoremu"
)

// eventually polls cond with a deadline.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNodeOffline(t *testing.T) {
	e, c := cluster(t, []linstoremu.Option{linstoremu.WithSyncRate(10)}, "vm-a")
	ctx := ctxT(t)
	require.NoError(t, autoplace(ctx, c, "vm-a", 3))
	require.NoError(t, e.SetNodeOnline("n1", false))

	nodes, err := c.Nodes.GetAll(ctx, &client.ListOpts{Node: []string{"n1"}})
	require.NoError(t, err)
	assert.Equal(t, "OFFLINE", nodes[0].ConnectionStatus)
	v := view(t, e, "vm-a")
	assert.Equal(t, "", v["n1"].Volumes[0].State.DiskState, "an offline satellite reports no state")
	assert.Empty(t, v["n1"].LayerObject.Drbd.Connections)
	for _, peer := range []string{"n2", "n3"} {
		conn := v[peer].LayerObject.Drbd.Connections["n1"]
		assert.False(t, conn.Connected)
		assert.Equal(t, "Connecting", conn.Message)
		assert.Equal(t, "Off", v[peer].Volumes[0].State.ReplicationStates["n1"].ReplicationState)
	}
	e.Advance(time.Minute)
	assert.Equal(t, "Inconsistent", view(t, e, "vm-a")["n3"].Volumes[0].State.DiskState, "its source is away")
	st, err := c.ResourceDefinitions.SyncStatus(ctx, "vm-a")
	require.NoError(t, err)
	assert.False(t, st.SyncedOnAll)

	require.NoError(t, e.SetNodeOnline("n1", true))
	e.Advance(10 * time.Second)
	st, err = c.ResourceDefinitions.SyncStatus(ctx, "vm-a")
	require.NoError(t, err)
	assert.True(t, st.SyncedOnAll)
}

func TestStalledSync(t *testing.T) {
	e, c := cluster(t, []linstoremu.Option{linstoremu.WithSyncRate(10)}, "vm-a")
	require.NoError(t, autoplace(ctxT(t), c, "vm-a", 3))
	e.Advance(3 * time.Second)
	require.NoError(t, e.StallSync("vm-a", true))
	e.Advance(time.Hour)
	rs := view(t, e, "vm-a")["n3"].Volumes[0].State
	assert.Equal(t, "Inconsistent", rs.DiskState)
	assert.Equal(t, "SyncTarget", rs.ReplicationStates["n1"].ReplicationState)
	assert.InDelta(t, 30, *rs.ReplicationStates["n1"].DonePercentage, 1e-9, "progress stopped")
	require.NoError(t, e.StallSync("vm-a", false))
	e.Advance(7 * time.Second)
	assert.Equal(t, "UpToDate", view(t, e, "vm-a")["n3"].Volumes[0].State.DiskState)
}

func TestStandAlone(t *testing.T) {
	e, c := cluster(t, []linstoremu.Option{linstoremu.WithSyncRate(10)}, "vm-a")
	require.NoError(t, autoplace(ctxT(t), c, "vm-a", 3))
	require.NoError(t, e.SetStandAlone("vm-a", "n3", true))
	e.Advance(time.Hour)
	v := view(t, e, "vm-a")
	for _, peer := range []string{"n1", "n2"} {
		conn := v["n3"].LayerObject.Drbd.Connections[peer]
		assert.False(t, conn.Connected)
		assert.Equal(t, "StandAlone", conn.Message)
		assert.Equal(t, "Off", v["n3"].Volumes[0].State.ReplicationStates[peer].ReplicationState)
		assert.Equal(t, "Connecting", v[peer].LayerObject.Drbd.Connections["n3"].Message)
	}
	assert.Equal(t, "Inconsistent", v["n3"].Volumes[0].State.DiskState)
	res, err := c.Resources.GetAll(ctxT(t), "vm-a", &client.ListOpts{Node: []string{"n3"}})
	require.NoError(t, err)
	assert.Equal(t, client.DrbdConnection{Connected: false, Message: "StandAlone"}, res[0].LayerObject.Drbd.Connections["n1"])
}

func TestWFBitMapT(t *testing.T) {
	e, c := cluster(t, []linstoremu.Option{linstoremu.WithSyncRate(10)}, "vm-a")
	require.NoError(t, autoplace(ctxT(t), c, "vm-a", 3))
	require.NoError(t, e.SetReplicationState("vm-a", "n3", "n1", "WFBitMapT"))
	e.Advance(time.Hour)
	v := view(t, e, "vm-a")
	assert.Equal(t, "WFBitMapT", v["n3"].Volumes[0].State.ReplicationStates["n1"].ReplicationState)
	assert.Equal(t, "WFBitMapS", v["n1"].Volumes[0].State.ReplicationStates["n3"].ReplicationState)
	assert.True(t, v["n3"].LayerObject.Drbd.Connections["n1"].Connected, "a replication state, not a connection state")
	assert.Equal(t, "Inconsistent", v["n3"].Volumes[0].State.DiskState)
	require.NoError(t, e.SetReplicationState("vm-a", "n3", "n1", ""))
	e.Advance(10 * time.Second)
	assert.Equal(t, "UpToDate", view(t, e, "vm-a")["n3"].Volumes[0].State.DiskState)
}

func TestFailNext(t *testing.T) {
	e, c := cluster(t, nil, "vm-a", "vm-b")
	ctx := ctxT(t)
	e.FailNext(http.MethodPost, "/v1/resource-definitions/*/autoplace", 2)
	for _, rd := range []string{"vm-a", "vm-b"} {
		err := autoplace(ctx, c, rd, 3)
		var ace client.ApiCallError
		require.ErrorAs(t, err, &ace)
		assert.True(t, ace.Is(linstor.FailUnknownError))
		assert.True(t, client.IsApiCallError(err, linstor.FailUnknownError))
	}
	_, err := c.Nodes.GetAll(ctx)
	require.NoError(t, err, "other paths are not matched")
	assert.Empty(t, e.Mutations(), "a failed request changes nothing")
	require.NoError(t, autoplace(ctx, c, "vm-a", 3), "the fault is spent")
	calls := e.Calls()
	require.Len(t, calls, 4)
	assert.True(t, calls[0].Injected)
	assert.Equal(t, http.StatusInternalServerError, calls[0].Status)
	assert.False(t, calls[3].Injected)
	assert.Len(t, e.Mutations(), 1)
}

func TestHangNextUntilTheClientGivesUp(t *testing.T) {
	e, _ := cluster(t, nil, "vm-a")
	c := newClient(t, e, 50*time.Millisecond)
	e.HangNext(http.MethodPost, "/v1/resource-definitions/vm-a/autoplace", 1, 0)
	err := autoplace(context.Background(), c, "vm-a", 3)
	require.Error(t, err)
	eventually(t, func() bool { return e.InFlight() == 0 }, "the hung request ends when its client leaves")
	assert.Equal(t, []string{"n1", "n2"}, e.ReplicaNodes("vm-a"), "nothing changed")
	calls := e.Calls()
	require.Len(t, calls, 1)
	assert.True(t, calls[0].Abandoned)
	assert.Empty(t, e.Mutations())

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	e.HangNext("", "/v1/nodes", 1, 0)
	_, err = newClient(t, e, 5*time.Second).Nodes.GetAll(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	eventually(t, func() bool { return e.InFlight() == 0 }, "a cancelled context ends the hang")
}

func TestHangNextForADuration(t *testing.T) {
	e, c := cluster(t, nil, "vm-a")
	e.HangNext(http.MethodPost, "/v1/resource-definitions/*/autoplace", 1, 30*time.Millisecond)
	start := time.Now()
	require.NoError(t, autoplace(ctxT(t), c, "vm-a", 3))
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
	assert.Len(t, e.ReplicaNodes("vm-a"), 3, "served once the delay passed")
}

func TestHangAfterNextAppliesThenTimesOut(t *testing.T) {
	e, _ := cluster(t, nil, "vm-a")
	c := newClient(t, e, 50*time.Millisecond)
	e.HangAfterNext(http.MethodPost, "/v1/resource-definitions/*/autoplace", 1, 0)
	require.Error(t, autoplace(context.Background(), c, "vm-a", 3))
	assert.Len(t, e.ReplicaNodes("vm-a"), 3, "placed although the client timed out")
	eventually(t, func() bool { return e.InFlight() == 0 }, "the hung answer ends")
	m := e.Mutations()
	require.Len(t, m, 1)
	assert.True(t, m[0].Abandoned)
	assert.Equal(t, http.StatusCreated, m[0].Status)
	// The caller's retry finds nothing to do.
	require.NoError(t, autoplace(ctxT(t), newClient(t, e, 5*time.Second), "vm-a", 3))
	assert.Len(t, e.Mutations(), 1)
}

func TestCloseReleasesHungRequests(t *testing.T) {
	e := linstoremu.Start()
	require.NoError(t, e.AddNode("n1"))
	c := newClient(t, e, 0) // no client timeout: only Close ends the hang
	e.HangNext("", "/v1/nodes", 1, 0)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Nodes.GetAll(context.Background())
		errc <- err
	}()
	eventually(t, func() bool { return e.InFlight() == 1 }, "the request arrives")
	e.Close()
	assert.Equal(t, 0, e.InFlight())
	assert.Error(t, <-errc)
	e.Close() // twice is fine
}

func TestFaultsAreSafeWhileServing(t *testing.T) {
	e, c := cluster(t, []linstoremu.Option{linstoremu.WithSyncRate(5), linstoremu.WithPollStep(time.Second)}, "vm-a", "vm-b", "vm-c", "vm-d")
	ctx := ctxT(t)
	var wg sync.WaitGroup
	for _, rd := range []string{"vm-a", "vm-b", "vm-c", "vm-d"} {
		wg.Go(func() {
			assert.NoError(t, autoplace(ctx, c, rd, 3))
			for range 5 {
				_, err := c.Resources.GetResourceView(ctx, &client.ListOpts{Resource: []string{rd}})
				assert.NoError(t, err)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			e.Advance(time.Second)
			assert.NoError(t, e.StallSync("vm-a", true))
			assert.NoError(t, e.SetNodeOnline("n4", false))
			assert.NoError(t, e.SetNodeOnline("n4", true))
			e.FailNext(http.MethodGet, "/v1/nodes", 1)
			_ = e.Calls()
		}
	})
	wg.Wait()
	assert.Len(t, e.Mutations(), 4)
}
