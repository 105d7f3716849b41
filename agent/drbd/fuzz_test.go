package drbd_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/agent/drbd"
)

// FuzzParse checks that Parse never panics, that every error is classified
// and says where it is, and that an accepted report round-trips: marshalled
// with drbdsetup's key names and parsed again it gives the same resources
// and the same health verdicts.
func FuzzParse(f *testing.F) {
	for _, name := range fixtures {
		f.Add(readFixture(f, name))
	}
	f.Add([]byte(minimal))
	f.Add([]byte(`[{"name": "r0", "devices": [null]}]`))
	f.Add([]byte(`[{"name": "r0", "connections": [{"peer-node-id": 1, "connection-state": "Connected", "paths": [{"this_host": {"port": 70000}}]}]}]`))
	f.Add([]byte(`{"name": "r0"}`))
	f.Add([]byte("null"))
	f.Add([]byte("[1, 2"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := drbd.Parse(data)
		if err != nil {
			require.Nil(t, rs)
			require.True(t, errors.Is(err, drbd.ErrMalformed) || errors.Is(err, drbd.ErrTooLarge), "unclassified error: %v", err)
			require.True(t, strings.HasPrefix(err.Error(), "drbd status: "), "error without prefix: %v", err)
			if fe, ok := errors.AsType[*drbd.FieldError](err); ok {
				require.GreaterOrEqual(t, fe.Index, 0)
				require.NotEmpty(t, fe.Problem)
			}
			return
		}
		require.NotNil(t, rs)
		for _, r := range rs {
			require.NotEmpty(t, strings.TrimSpace(r.Name))
			ok, msg := r.Healthy()
			require.NotEmpty(t, msg)
			require.Equal(t, ok, len(r.Problems()) == 0)
		}
		again, err := json.Marshal(rs)
		require.NoError(t, err)
		rs2, err := drbd.Parse(again)
		require.NoError(t, err, "a marshalled report parses: %s", again)
		assert.Equal(t, rs, rs2)
		for i := range rs {
			assert.Equal(t, rs[i].Problems(), rs2[i].Problems())
		}
	})
}
