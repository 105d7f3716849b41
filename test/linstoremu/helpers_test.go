package linstoremu_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/LINBIT/golinstor/client"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/test/linstoremu"
)

// newClient is the real golinstor client for e, with a timeout.
func newClient(t *testing.T, e *linstoremu.Emulator, timeout time.Duration) *client.Client {
	t.Helper()
	u, err := url.Parse(e.URL())
	require.NoError(t, err)
	c, err := client.NewClient(client.BaseURL(u), client.HTTPClient(&http.Client{Timeout: timeout}), client.Log(nil))
	require.NoError(t, err)
	return c
}

// cluster seeds nodes n1..n4 with pool "thin" (n1 has the most room, then
// n2 ...), group "rg" with place count 2 and the named resources of
// 10 MiB on n1 and n2.
func cluster(t *testing.T, opts []linstoremu.Option, resources ...string) (*linstoremu.Emulator, *client.Client) {
	t.Helper()
	e := linstoremu.New(t, opts...)
	for i, n := range []string{"n1", "n2", "n3", "n4"} {
		require.NoError(t, e.AddNode(n))
		require.NoError(t, e.AddStoragePool(n, "thin", int64(100-i)<<20, 100<<20))
	}
	require.NoError(t, e.AddResourceGroup("rg", "thin", 2))
	for _, r := range resources {
		require.NoError(t, e.AddResource("rg", r, 10<<20, "n1", "n2"))
	}
	return e, newClient(t, e, 5*time.Second)
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// replState is the replication_states entry golinstor v0.63.0 drops.
type replState struct {
	ReplicationState string   `json:"replication_state"`
	DonePercentage   *float64 `json:"done_percentage"`
}

// viewReplica is one entry of /v1/view/resources as decoded here, with
// replication_states.
type viewReplica struct {
	Name        string `json:"name"`
	NodeName    string `json:"node_name"`
	LayerObject struct {
		Type string `json:"type"`
		Drbd struct {
			Connections map[string]struct {
				Connected bool   `json:"connected"`
				Message   string `json:"message"`
			} `json:"connections"`
		} `json:"drbd"`
	} `json:"layer_object"`
	Volumes []struct {
		VolumeNumber int    `json:"volume_number"`
		StoragePool  string `json:"storage_pool_name"`
		State        struct {
			DiskState         string               `json:"disk_state"`
			ReplicationStates map[string]replState `json:"replication_states"`
		} `json:"state"`
	} `json:"volumes"`
}

// view reads /v1/view/resources for one resource, by node.
func view(t *testing.T, e *linstoremu.Emulator, resource string) map[string]viewReplica {
	t.Helper()
	status, body := do(t, e, http.MethodGet, "/v1/view/resources?resources="+url.QueryEscape(resource), "")
	require.Equal(t, http.StatusOK, status, "%s", body)
	var reps []viewReplica
	require.NoError(t, json.Unmarshal(body, &reps))
	out := map[string]viewReplica{}
	for _, r := range reps {
		require.Equal(t, resource, r.Name)
		require.Len(t, r.Volumes, 1)
		out[r.NodeName] = r
	}
	return out
}

// do sends a raw request and returns the status and body.
func do(t *testing.T, e *linstoremu.Emulator, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), method, e.URL()+path, bytes.NewBufferString(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { require.NoError(t, resp.Body.Close()) }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// rcs decodes an ApiCallRc array.
func rcs(t *testing.T, body []byte) client.ApiCallError {
	t.Helper()
	var out client.ApiCallError
	require.NoError(t, json.Unmarshal(body, &out), "%s", body)
	require.NotEmpty(t, out)
	return out
}

func autoplace(ctx context.Context, c *client.Client, rd string, count int32) error {
	return c.Resources.Autoplace(ctx, rd, client.AutoPlaceRequest{SelectFilter: client.AutoSelectFilter{PlaceCount: count}})
}

func placed(calls []linstoremu.Call) []linstoremu.Placement {
	var out []linstoremu.Placement
	for _, c := range calls {
		out = append(out, c.Placed...)
	}
	return out
}
