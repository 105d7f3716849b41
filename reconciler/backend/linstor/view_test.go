package linstor

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAnswersAreBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "["+strings.Repeat(`{"name":"r"},`, 1000)+`{"name":"r"}]`)
	}))
	defer srv.Close()
	get := func(limit int64) ([]byte, error) {
		c := &http.Client{Transport: &recordingTransport{base: http.DefaultTransport, max: limit}}
		resp, err := c.Get(srv.URL)
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		return io.ReadAll(resp.Body)
	}
	b, err := get(1 << 20)
	require.NoError(t, err)
	assert.Len(t, b, 13*1001+1)
	_, err = get(1024)
	assert.True(t, errors.Is(err, errAnswerTooLarge), "a body past the bound fails to read: %v", err)
}

// FuzzResourceView decodes whatever a controller might answer to
// /v1/view/resources as the backend does and turns each replica into the
// backend's view: an error or a replica, never a panic, and every peer
// named once, in order.
func FuzzResourceView(f *testing.F) {
	f.Add([]byte(`[{"name":"r","node_name":"n1","flags":[],"layer_object":{"type":"DRBD","drbd":{"connections":{"n2":{"connected":true,"message":"Connected"}}}},` +
		`"volumes":[{"volume_number":0,"state":{"disk_state":"Inconsistent","replication_states":{"n2":{"replication_state":"SyncTarget","done_percentage":41.5}}}}]}]`))
	f.Add([]byte(`[{"name":"r","node_name":"n1","layer_object":{"type":"LUKS","children":[{"type":"DRBD","drbd":{"connections":{}}}]},"volumes":[]}]`))
	f.Add([]byte(`[{"name":"r","flags":["DISKLESS"],"volumes":[{"state":{}}]}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var views []viewResource
		if json.Unmarshal(data, &views) != nil {
			return
		}
		for _, v := range views {
			_ = v.diskful()
			r := v.replica()
			if r.State == "" {
				t.Fatalf("a replica without a disk state: %+v", r)
			}
			for i := 1; i < len(r.Peers); i++ {
				if r.Peers[i-1].Node >= r.Peers[i].Node {
					t.Fatalf("peers not sorted or twice: %+v", r.Peers)
				}
			}
		}
	})
}
