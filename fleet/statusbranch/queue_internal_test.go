package statusbranch

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func TestQueueSurvivesRestarts(t *testing.T) {
	dir := t.TempDir()
	q, err := openQueue(dir)
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		seq, err := q.add(update{Queued: time.Unix(int64(i), 0), Status: v1.ClusterStatus{Cluster: "a", PolicyVersion: i}})
		require.NoError(t, err)
		assert.Equal(t, uint64(i), seq)
	}
	_, err = openQueue(dir)
	assert.ErrorContains(t, err, "another writer holds the queue directory")
	require.NoError(t, q.done(1))
	assert.Equal(t, []uint64{2, 3}, q.pending)
	require.NoError(t, q.close())

	// A write that never finished leaves a temporary file; a crash after
	// a push but before the removal leaves an update at or below the sent
	// mark. Neither is sent again.
	require.NoError(t, os.WriteFile(filepath.Join(dir, updatesDir, tmpPrefix+"x"), []byte("{"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, sentFile), []byte("2\n"), 0o600))
	q, err = openQueue(dir)
	require.NoError(t, err)
	defer q.close()
	assert.Equal(t, []uint64{3}, q.pending)
	u, err := q.get(3)
	require.NoError(t, err)
	assert.Equal(t, 3, u.Status.PolicyVersion)
	entries, err := os.ReadDir(filepath.Join(dir, updatesDir))
	require.NoError(t, err)
	assert.Len(t, entries, 1)
	seq, err := q.add(update{Status: v1.ClusterStatus{Cluster: "a"}})
	require.NoError(t, err)
	assert.Equal(t, uint64(4), seq, "sequence numbers never repeat")

	require.NoError(t, os.WriteFile(filepath.Join(dir, updatesDir, "junk"), nil, 0o600))
	require.NoError(t, q.close())
	_, err = openQueue(dir)
	assert.ErrorContains(t, err, "unexpected file junk")
}
