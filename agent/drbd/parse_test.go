package drbd_test

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/agent/drbd"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixtures are the files in testdata/ that drbdsetup could print (see
// testdata/README.md for where each comes from).
var fixtures = []string{
	"in-sync-two-peers",
	"syncing",
	"standalone",
	"trailing-space-older-utils",
	"padded-states",
	"diskless-client",
	"empty",
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	require.NoError(t, err)
	return data
}

func parseFixture(t *testing.T, name string) []drbd.Resource {
	t.Helper()
	rs, err := drbd.Parse(readFixture(t, name))
	require.NoError(t, err)
	return rs
}

// verdict is what a golden file holds for one resource.
type verdict struct {
	Resource drbd.Resource `json:"resource"`
	Healthy  bool          `json:"healthy"`
	Message  string        `json:"message"`
	Problems []string      `json:"problems,omitempty"`
}

func TestParseFixturesMatchGoldenFiles(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			verdicts := []verdict{}
			for _, r := range parseFixture(t, name) {
				ok, msg := r.Healthy()
				verdicts = append(verdicts, verdict{r, ok, msg, r.Problems()})
			}
			got, err := json.MarshalIndent(verdicts, "", "  ")
			require.NoError(t, err)
			got = append(got, '\n')
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./agent/drbd -update to create it")
			assert.Equal(t, string(want), string(got))
		})
	}
}

func TestParseInSyncTwoPeers(t *testing.T) {
	rs := parseFixture(t, "in-sync-two-peers")
	require.Len(t, rs, 1)
	r := rs[0]
	assert.Equal(t, "data-disk-1", r.Name)
	assert.Equal(t, 0, r.NodeID)
	assert.Equal(t, drbd.RolePrimary, r.Role)
	assert.Equal(t, "flush", r.WriteOrdering)
	require.Len(t, r.Devices, 2)
	assert.Equal(t, drbd.Device{
		Volume: 1, Minor: 1001, DiskState: drbd.DiskUpToDate, Open: true, Quorum: true,
		SizeKiB: 1048576, ReadKiB: 65536, WrittenKiB: 131072, ALWrites: 27, BMWrites: 1,
		UpperPending: 1, LowerPending: 1,
	}, r.Devices[1])
	require.Len(t, r.Connections, 2)
	c := r.Connections[1]
	assert.Equal(t, 2, c.PeerNodeID)
	assert.Equal(t, "node-c", c.Name)
	assert.Equal(t, drbd.ConnConnected, c.ConnectionState)
	assert.Equal(t, drbd.RoleSecondary, c.PeerRole)
	assert.Equal(t, uint64(8), c.APInFlight)
	assert.Equal(t, []drbd.Path{{
		ThisHost:    drbd.Endpoint{Address: "192.0.2.10", Port: 7000, Family: "ipv4"},
		RemoteHost:  drbd.Endpoint{Address: "192.0.2.12", Port: 7000, Family: "ipv4"},
		Established: true,
	}}, c.Paths)
	require.Len(t, c.PeerDevices, 2)
	pd := c.PeerDevices[0]
	assert.Equal(t, drbd.ReplEstablished, pd.ReplicationState)
	assert.Equal(t, drbd.DiskUpToDate, pd.PeerDiskState)
	assert.Equal(t, uint64(2097152), pd.SentKiB)
	require.NotNil(t, pd.PercentInSync)
	assert.InDelta(t, 100.0, *pd.PercentInSync, 0)
	assert.Nil(t, pd.PercentResyncDone, "no resync runs")

	ok, msg := r.Healthy()
	assert.True(t, ok)
	assert.Equal(t, "UpToDate, Established to 2 peers", msg)
}

func TestParseSyncing(t *testing.T) {
	rs := parseFixture(t, "syncing")
	require.Len(t, rs, 2)

	src := rs[0].Connections[0].PeerDevices[0]
	assert.Equal(t, drbd.ReplSyncSource, src.ReplicationState)
	assert.Equal(t, drbd.DiskInconsistent, src.PeerDiskState)
	assert.Equal(t, uint64(524288), src.OutOfSyncKiB)
	assert.True(t, src.HasSyncDetails)
	require.NotNil(t, src.PercentInSync)
	assert.InDelta(t, 50.0, *src.PercentInSync, 1e-9)
	require.NotNil(t, src.PercentResyncDone)
	assert.InDelta(t, 50.0, *src.PercentResyncDone, 1e-9)
	ok, msg := rs[0].Healthy()
	assert.False(t, ok)
	assert.Equal(t, "peer node-b volume 0 SyncSource 50.0% in sync", msg)

	tgt := rs[1]
	assert.Equal(t, drbd.DiskInconsistent, tgt.Devices[0].DiskState)
	paused := tgt.Connections[1].PeerDevices[0]
	assert.Equal(t, drbd.ReplPausedSyncT, paused.ReplicationState)
	assert.Equal(t, "dependency", paused.ResyncSuspended)
	assert.False(t, paused.HasSyncDetails)
	require.NotNil(t, paused.PercentResyncDone, "printed without details while a resync is paused")
	ok, msg = tgt.Healthy()
	assert.False(t, ok)
	assert.Equal(t, "peer node-b volume 0 SyncTarget 42.1% in sync", msg)
	assert.Equal(t, []string{
		"peer node-b volume 0 SyncTarget 42.1% in sync",
		"peer node-c volume 0 PausedSyncT 42.1% in sync (resync suspended: dependency)",
		"volume 0 disk Inconsistent",
	}, tgt.Problems())
}

func TestParseStandAlone(t *testing.T) {
	rs := parseFixture(t, "standalone")
	require.Len(t, rs, 2)
	c := rs[0].Connections[0]
	assert.Equal(t, drbd.ConnStandAlone, c.ConnectionState)
	assert.Equal(t, drbd.RoleUnknown, c.PeerRole)
	assert.False(t, c.Paths[0].Established)
	assert.Equal(t, drbd.ReplOff, c.PeerDevices[0].ReplicationState)
	assert.Equal(t, drbd.DiskDUnknown, c.PeerDevices[0].PeerDiskState)

	assert.Equal(t, []string{"peer node-b StandAlone"}, rs[0].Problems(),
		"the Off/DUnknown volume of a StandAlone peer is not a second problem")
	ok, msg := rs[1].Healthy()
	assert.False(t, ok)
	assert.Equal(t, "peer node-b Connecting", msg)
}

func TestParseTrailingSpaceOlderUtils(t *testing.T) {
	data := readFixture(t, "trailing-space-older-utils")
	require.Contains(t, string(data), `"connection-state": "Connected", `+"\n", "the fixture has the quirk")
	require.Contains(t, string(data), "}\n,\n{", "and the older resource separator")
	require.NotContains(t, string(data), `"paths"`)

	rs, err := drbd.Parse(data)
	require.NoError(t, err)
	require.Len(t, rs, 2)
	for _, r := range rs {
		assert.Equal(t, drbd.ConnConnected, r.Connections[0].ConnectionState)
		assert.Nil(t, r.Connections[0].Paths, "older drbd-utils print no paths")
		assert.False(t, r.Devices[0].Open)
		ok, msg := r.Healthy()
		assert.True(t, ok, r.Name)
		assert.Equal(t, "UpToDate, Established to 1 peer", msg)
	}
}

func TestParseTrimsPaddedStates(t *testing.T) {
	rs := parseFixture(t, "padded-states")
	require.Len(t, rs, 1)
	r := rs[0]
	assert.Equal(t, drbd.RoleSecondary, r.Role)
	assert.Equal(t, "flush", r.WriteOrdering)
	assert.Equal(t, drbd.DiskUpToDate, r.Devices[0].DiskState)
	c := r.Connections[0]
	assert.Equal(t, drbd.ConnConnected, c.ConnectionState)
	assert.Equal(t, drbd.RolePrimary, c.PeerRole)
	assert.Equal(t, drbd.ReplEstablished, c.PeerDevices[0].ReplicationState)
	assert.Equal(t, drbd.DiskUpToDate, c.PeerDevices[0].PeerDiskState)
	assert.Equal(t, "no", c.PeerDevices[0].ResyncSuspended)
	ok, _ := r.Healthy()
	assert.True(t, ok)
}

func TestParseDisklessClient(t *testing.T) {
	rs := parseFixture(t, "diskless-client")
	require.Len(t, rs, 3)

	client := rs[0]
	assert.True(t, client.Devices[0].Client)
	assert.Equal(t, drbd.DiskDiskless, client.Devices[0].DiskState)
	ok, msg := client.Healthy()
	assert.True(t, ok)
	assert.Equal(t, "diskless client, Established to 2 peers", msg)

	peer := rs[1].Connections[1].PeerDevices[0]
	assert.True(t, peer.PeerClient)
	assert.Equal(t, drbd.DiskDiskless, peer.PeerDiskState)
	ok, _ = rs[1].Healthy()
	assert.True(t, ok, "a diskless client peer is healthy")

	ok, msg = rs[2].Healthy()
	assert.False(t, ok)
	assert.Equal(t, "volume 0 disk Diskless", msg, "Diskless without client is a detached disk")
}

func TestParseEmpty(t *testing.T) {
	rs := parseFixture(t, "empty")
	assert.NotNil(t, rs)
	assert.Empty(t, rs)
}

func TestParseToleratesUnknownAndMissingOptionalFields(t *testing.T) {
	doc := `[{"name": "r0", "future": {"nested": [1, {"x": null}]}, "role": "Secondary",
	  "devices": [{"volume": 0, "disk-state": "UpToDate", "quorum": true, "new-counter": 7}],
	  "connections": [{"peer-node-id": 1, "name": "node-b", "connection-state": "Connected",
	    "encryption": "tls1.3", "paths": [{"this_host": {"family": "rdma"}, "remote_host": {"family": "rdma"}, "mtu": 9000}],
	    "peer_devices": [{"volume": 0, "replication-state": "Established", "peer-disk-state": "UpToDate",
	      "percent-in-sync": 100, "rs-new-thing": "x"}]}]}]`
	rs, err := drbd.Parse([]byte(doc))
	require.NoError(t, err)
	require.Len(t, rs, 1)
	r := rs[0]
	assert.Equal(t, -1, r.NodeID, "a missing node-id reads as drbdsetup's -1")
	assert.Equal(t, uint64(0), r.Devices[0].SizeKiB, "no statistics")
	assert.Equal(t, "rdma", r.Connections[0].Paths[0].ThisHost.Family)
	require.NotNil(t, r.Connections[0].PeerDevices[0].PercentInSync)
	assert.InDelta(t, 100.0, *r.Connections[0].PeerDevices[0].PercentInSync, 0, "an integer is a number")
	ok, msg := r.Healthy()
	assert.True(t, ok, msg)

	rs, err = drbd.Parse([]byte(`[{"name": "r0", "devices": null, "connections": null}]`))
	require.NoError(t, err)
	assert.Empty(t, rs[0].Devices)
	assert.Empty(t, rs[0].Connections)

	rs, err = drbd.Parse([]byte(`[{"name": "r0", "devices": [{"volume": 0, "disk-state": "UpToDate", "quorum": true}],
	  "connections": [{"peer-node-id": 1, "name": "node-b", "connection-state": "Connected", "peer_devices": [
	    {"volume": 0, "replication-state": "SyncTarget", "peer-disk-state": "UpToDate"}]}]}]`))
	require.NoError(t, err)
	assert.Nil(t, rs[0].Connections[0].PeerDevices[0].PercentInSync, "drbd-utils before 9.4 print no percent-in-sync")
	_, msg = rs[0].Healthy()
	assert.Equal(t, "peer node-b volume 0 SyncTarget", msg)
}

// minimal is a valid one-resource report for the error cases to break.
const minimal = `[{"name": "r0", "suspended": false,
  "devices": [{"volume": 0, "disk-state": "UpToDate", "size": 1024}, {"volume": 1, "disk-state": "UpToDate"}],
  "connections": [{"peer-node-id": 1, "name": "node-b", "connection-state": "Connected",
    "paths": [{"this_host": {"address": "192.0.2.10", "port": 7000, "family": "ipv4"}, "remote_host": {"family": "ipv4"}, "established": true}],
    "peer_devices": [{"volume": 0, "replication-state": "Established", "peer-disk-state": "UpToDate", "pending": 0, "percent-in-sync": 100.00}]}]}]`

func TestParseErrors(t *testing.T) {
	_, err := drbd.Parse([]byte(minimal))
	require.NoError(t, err, "the base document is valid")
	replace := func(old, new string) string {
		require.Contains(t, minimal, old)
		return strings.Replace(minimal, old, new, 1)
	}
	cases := []struct {
		name  string
		input string
		want  string
	}{
		{"empty", "", "drbd status: empty input, want a JSON array of resources"},
		{"white space", " \n\t", "drbd status: empty input, want a JSON array of resources"},
		{"null", "null", "drbd status: got null, want a JSON array of resources"},
		{"object", `{"name": "r0"}`, "drbd status: got object, want a JSON array of resources"},
		{"string", `"r0"`, "drbd status: got string, want a JSON array of resources"},
		{"truncated", `[{"name": "r0"`, "drbd status: not valid JSON after 14 bytes: unexpected end of JSON input"},
		{"trailing comma", "\n" + `[{"name": "r0",}]`, "drbd status: not valid JSON after 17 bytes: invalid character '}' looking for beginning of object key string"},
		{"trailing data", `[] x`, "drbd status: not valid JSON after 4 bytes: invalid character 'x' after top-level value"},
		{"decimal comma", replace("100.00", "100,00"), "invalid character '0' looking for beginning of object key string"},
		{"element not an object", `[1]`, "drbd status: resources[0]: got number, want an object"},
		{"null element", `[{"name": "r0"}, null]`, "drbd status: resources[1]: got null, want an object"},
		{"name missing", `[{"role": "Primary"}]`, "drbd status: resources[0]: name: missing (required)"},
		{"name empty", `[{"name": " "}]`, "drbd status: resources[0]: name: empty (required)"},
		{"name not a string", `[{"name": 7}]`, "drbd status: resources[0]: name: got number, want a string"},
		{"duplicate name", `[{"name": "r0"}, {"name": "r0"}]`, `drbd status: resources[1] "r0": name: duplicates resources[0]`},
		{"suspended not a bool", replace(`"suspended": false`, `"suspended": "no"`), `drbd status: resources[0] "r0": suspended: got string, want true or false`},
		{"devices not an array", `[{"name": "r0", "devices": {"volume": 0}}]`, `drbd status: resources[0] "r0": devices: got object, want an array`},
		{"device null", `[{"name": "r0", "devices": [null]}]`, `drbd status: resources[0] "r0": devices[0]: got null, want an object`},
		{"size a string", replace(`"size": 1024`, `"size": "1024"`), `drbd status: resources[0] "r0": devices[0].size: got string, want a non-negative integer`},
		{"size negative", replace(`"size": 1024`, `"size": -1`), `drbd status: resources[0] "r0": devices[0].size: got number -1, want a non-negative integer`},
		{"volume a fraction", replace(`{"volume": 1,`, `{"volume": 0.5,`), `drbd status: resources[0] "r0": devices[1].volume: got number 0.5, want an integer`},
		{"volume missing", replace(`{"volume": 1, `, `{`), `drbd status: resources[0] "r0": devices[1].volume: missing (required)`},
		{"volume duplicate", replace(`{"volume": 1,`, `{"volume": 0,`), `drbd status: resources[0] "r0": devices[1].volume: 0 duplicates devices[0]`},
		{"disk-state missing", replace(`, "disk-state": "UpToDate", "size"`, `, "size"`), `drbd status: resources[0] "r0": devices[0].disk-state: missing (required)`},
		{"disk-state null", replace(`"disk-state": "UpToDate", "size"`, `"disk-state": null, "size"`), `drbd status: resources[0] "r0": devices[0].disk-state: missing (required)`},
		{"disk-state empty", replace(`"disk-state": "UpToDate", "size"`, `"disk-state": "  ", "size"`), `drbd status: resources[0] "r0": devices[0].disk-state: empty (required)`},
		{"peer-node-id a string", replace(`"peer-node-id": 1`, `"peer-node-id": "1"`), `drbd status: resources[0] "r0": connections[0].peer-node-id: got string, want an integer`},
		{"peer-node-id missing", replace(`"peer-node-id": 1, `, ``), `drbd status: resources[0] "r0": connections[0].peer-node-id: missing (required)`},
		{"connection-state missing", replace(`"connection-state": "Connected",`, ``), `drbd status: resources[0] "r0": connections[0].connection-state: missing (required)`},
		{"connection-state an array", replace(`"connection-state": "Connected"`, `"connection-state": ["Connected"]`), `drbd status: resources[0] "r0": connections[0].connection-state: got array, want a string`},
		{"port out of range", replace(`"port": 7000`, `"port": 70000`), `drbd status: resources[0] "r0": connections[0].paths[0].this_host.port: got number 70000, want an integer from 0 to 65535`},
		{"established not a bool", replace(`"established": true`, `"established": 1`), `drbd status: resources[0] "r0": connections[0].paths[0].established: got number, want true or false`},
		{"peer_devices an object", `[{"name": "r0", "connections": [{"peer-node-id": 1, "connection-state": "Connected", "peer_devices": {"volume": 0}}]}]`, `drbd status: resources[0] "r0": connections[0].peer_devices: got object, want an array`},
		{"percent-in-sync a string", replace(`"percent-in-sync": 100.00`, `"percent-in-sync": "100.00"`), `drbd status: resources[0] "r0": connections[0].peer_devices[0].percent-in-sync: got string, want a number`},
		{"percent-in-sync out of float range", replace(`"percent-in-sync": 100.00`, `"percent-in-sync": 1e999`), `drbd status: resources[0] "r0": connections[0].peer_devices[0].percent-in-sync: got number 1e999, want a number`},
		{"pending negative", replace(`"pending": 0`, `"pending": -3`), `drbd status: resources[0] "r0": connections[0].peer_devices[0].pending: got number -3, want an integer from 0 to 4294967295`},
		{"replication-state missing", replace(`"replication-state": "Established", `, ``), `drbd status: resources[0] "r0": connections[0].peer_devices[0].replication-state: missing (required)`},
		{"peer-disk-state a bool", replace(`"peer-disk-state": "UpToDate"`, `"peer-disk-state": true`), `drbd status: resources[0] "r0": connections[0].peer_devices[0].peer-disk-state: got bool, want a string`},
		{"duplicate peer", `[{"name": "r0", "connections": [{"peer-node-id": 1, "connection-state": "Connected"}, {"peer-node-id": 1, "connection-state": "StandAlone"}]}]`,
			`drbd status: resources[0] "r0": connections[1].peer-node-id: 1 duplicates connections[0]`},
		{"duplicate peer volume", replace(`"percent-in-sync": 100.00}`, `"percent-in-sync": 100.00}, {"volume": 0, "replication-state": "Off", "peer-disk-state": "DUnknown"}`),
			`drbd status: resources[0] "r0": connections[0].peer_devices[1].volume: 0 duplicates peer_devices[0]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := drbd.Parse([]byte(tc.input))
			require.Error(t, err)
			assert.Nil(t, rs)
			if strings.HasPrefix(tc.want, "drbd status: ") {
				assert.Equal(t, tc.want, err.Error())
			} else {
				assert.Contains(t, err.Error(), tc.want)
			}
			assert.ErrorIs(t, err, drbd.ErrMalformed)
			assert.NotErrorIs(t, err, drbd.ErrTooLarge)
		})
	}
}

func TestParseFieldErrorNamesResourceAndField(t *testing.T) {
	doc := `[{"name": "ok", "devices": []}, {"name": "r1", "devices": [{"volume": 0, "disk-state": "UpToDate", "size": "big"}]}]`
	_, err := drbd.Parse([]byte(doc))
	fe, ok := errors.AsType[*drbd.FieldError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, 1, fe.Index)
	assert.Equal(t, "r1", fe.Resource)
	assert.Equal(t, "devices[0].size", fe.Field)
	assert.Equal(t, "got string, want a non-negative integer", fe.Problem)
}

func TestParseRefusesOversizedInput(t *testing.T) {
	// A valid report just over the limit: the size is checked first.
	pad := strings.Repeat(" ", drbd.MaxInputSize-len(minimal)+1)
	_, err := drbd.Parse([]byte(minimal + pad))
	require.ErrorIs(t, err, drbd.ErrTooLarge)
	assert.NotErrorIs(t, err, drbd.ErrMalformed)
	assert.Equal(t, "drbd status: output too large: 4194305 bytes, the limit is 4194304", err.Error())

	_, err = drbd.Parse([]byte(minimal + pad[1:]))
	assert.NoError(t, err, "exactly MaxInputSize is accepted")
}
