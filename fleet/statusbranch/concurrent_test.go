package statusbranch_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/fleet/statusbranch"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// TestConcurrentClustersLoseNoUpdate has 50 clusters write to one branch at
// once through the real git http-backend; afterwards every cluster's
// latest status and every audit record is on the branch, each chain
// unbroken.
func TestConcurrentClustersLoseNoUpdate(t *testing.T) {
	const clusters, writes = 50, 1
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	srv := serveBare(t)

	type member struct {
		name  string
		w     *statusbranch.Writer
		chain *chain
		last  v1.ClusterStatus
	}
	members := make([]*member, clusters)
	for i := range members {
		name := fmt.Sprintf("edge-%03d", i)
		_, s := sshSigner(t, name)
		members[i] = &member{name: name, w: newWriter(t, srv.URL, name, s), chain: &chain{cluster: name}}
		// Sized to the fleet, as Retry documents: 50 writers times a push
		// of well under a second.
		members[i].w.Retry.Max = 30 * time.Second
	}

	start := make(chan struct{})
	errs := make(chan error, clusters*writes)
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for n := 0; n < writes; n++ {
				st := report(m.name, n, n+1)
				if err := m.w.Write(ctx, st, m.chain.next(2)); err != nil {
					errs <- fmt.Errorf("%s write %d: %w", m.name, n, err)
					return
				}
				m.last = st
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	var retries, commits int64
	for _, m := range members {
		assert.Equal(t, m.last, branchStatus(t, srv.Bare, m.name).ClusterStatus, m.name)
		assert.Equal(t, hashes(m.chain.all), hashes(branchAudit(t, srv.Bare, m.name)), m.name)
		retries += m.w.Stats().Retries
		commits += m.w.Stats().Commits
	}
	assert.Equal(t, int64(clusters*writes), commits)
	// Every commit is on the first-parent line: nothing was merged or lost.
	assert.Equal(t, fmt.Sprint(clusters*writes), runGit(t, srv.Bare, "rev-list", "--count", "--first-parent", branch))
	assert.Equal(t, fmt.Sprint(clusters*writes), runGit(t, srv.Bare, "rev-list", "--count", branch))
	files := strings.Split(runGit(t, srv.Bare, "ls-tree", "-r", "--name-only", branch), "\n")
	assert.Len(t, files, 2*clusters)
	runGit(t, srv.Bare, "fsck", "--strict", "--no-dangling")
	t.Logf("%d clusters x %d writes: %d retries after lost races", clusters, writes, retries)
}

// TestUnreachableRemoteQueuesAndCatchesUpInOrder takes the server's address
// down while a cluster keeps writing, restarts the writer process, and
// brings the address back up: every update reaches the branch, in order.
func TestUnreachableRemoteQueuesAndCatchesUpInOrder(t *testing.T) {
	ctx := context.Background()
	srv := serveBare(t)
	g := newGate(t, strings.TrimPrefix(strings.SplitN(srv.URL, "/status.git", 2)[0], "http://"))
	url := "http://" + g.addr + "/status.git"
	_, s := sshSigner(t, "edge-010")
	queueDir := t.TempDir()
	c := &chain{cluster: "edge-010"}
	w := &statusbranch.Writer{URL: url, Cluster: "edge-010", Signer: s, QueueDir: queueDir}

	require.NoError(t, w.Write(ctx, report("edge-010", 0, 1), c.next(1)))
	online := runGit(t, srv.Bare, "rev-parse", branch)

	g.down()
	var statuses []v1.ClusterStatus
	for n := 1; n <= 3; n++ {
		st := report("edge-010", n, n)
		err := w.Write(ctx, st, c.next(2))
		var queued *statusbranch.QueuedError
		require.ErrorAs(t, err, &queued, "write %d", n)
		assert.ErrorIs(t, err, statusbranch.ErrUnreachable)
		assert.Equal(t, n, queued.Pending)
		statuses = append(statuses, st)
	}
	assert.Equal(t, online, runGit(t, srv.Bare, "rev-parse", branch), "nothing reached the branch")

	// The process restarts while the link is still down: a new Writer on
	// the same directory holds the same queue.
	require.NoError(t, w.Close())
	w = &statusbranch.Writer{URL: url, Cluster: "edge-010", Signer: s, QueueDir: queueDir}
	defer w.Close()
	pending, err := w.Pending()
	require.NoError(t, err)
	assert.Equal(t, 3, pending)
	err = w.Flush(ctx)
	assert.ErrorIs(t, err, statusbranch.ErrUnreachable)

	g.up(t)
	// The next Write sends the queued updates first, then its own.
	last := report("edge-010", 4, 4)
	require.NoError(t, w.Write(ctx, last, c.next(1)))
	statuses = append(statuses, last)
	pending, err = w.Pending()
	require.NoError(t, err)
	assert.Zero(t, pending)

	assert.Equal(t, hashes(c.all), hashes(branchAudit(t, srv.Bare, "edge-010")))
	assert.Equal(t, last, branchStatus(t, srv.Bare, "edge-010").ClusterStatus)
	// One commit per update, oldest first, each with the status it carried.
	commits := strings.Fields(runGit(t, srv.Bare, "rev-list", "--reverse", online+".."+branch))
	require.Len(t, commits, 4)
	for i, id := range commits {
		data := runGit(t, srv.Bare, "show", id+":clusters/edge-010/status.yaml")
		st, err := statusbranch.ParseStatus("status.yaml", []byte(data))
		require.NoError(t, err)
		assert.Equal(t, statuses[i], st.ClusterStatus, "commit %d", i)
	}
	assert.Equal(t, "edge-010: status, audit 2-3", runGit(t, srv.Bare, "log", "-1", "--format=%s", commits[0]))
}

// TestClosedPortQueues points a writer at a port nothing listens on.
func TestClosedPortQueues(t *testing.T) {
	ctx := context.Background()
	srv := serveBare(t)
	g := newGate(t, strings.TrimPrefix(strings.SplitN(srv.URL, "/status.git", 2)[0], "http://"))
	g.down()
	_, s := sshSigner(t, "edge-011")
	w := newWriter(t, "http://"+g.addr+"/status.git", "edge-011", s)
	err := w.Write(ctx, report("edge-011", 0, 0), nil)
	var queued *statusbranch.QueuedError
	require.ErrorAs(t, err, &queued)
	assert.True(t, errors.Is(err, statusbranch.ErrUnreachable), "%v", err)
	assert.Contains(t, err.Error(), "127.0.0.1")
}
