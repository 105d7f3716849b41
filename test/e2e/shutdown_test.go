package e2e_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/fleet/statusbranch"
	"github.com/nodewright/nodewright/reconciler"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/fleet"
	"github.com/nodewright/nodewright/test/harness"
)

// stallingGit takes every request and answers none until the client gives
// up: a git server that hangs. For each repository named at its start,
// arrived closes when a first request for it comes in, and ended when a
// first one ends.
type stallingGit struct {
	*httptest.Server
	arrived map[string]chan struct{}
	ended   map[string]chan struct{}
}

func newStallingGit(t *testing.T, repos ...string) *stallingGit {
	t.Helper()
	g := &stallingGit{arrived: map[string]chan struct{}{}, ended: map[string]chan struct{}{}}
	for _, r := range repos {
		g.arrived[r], g.ended[r] = make(chan struct{}), make(chan struct{})
	}
	var arrivedOnce, endedOnce sync.Map
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		repo, _, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
		if ch, ok := g.arrived[repo]; ok {
			once, _ := arrivedOnce.LoadOrStore(repo, &sync.Once{})
			once.(*sync.Once).Do(func() { close(ch) })
		}
		<-req.Context().Done()
		if ch, ok := g.ended[repo]; ok {
			once, _ := endedOnce.LoadOrStore(repo, &sync.Once{})
			once.(*sync.Once).Do(func() { close(ch) })
		}
	}))
	t.Cleanup(func() {
		g.CloseClientConnections()
		g.Close()
	})
	return g
}

// within fails the test unless ch closes within d.
func within(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("%s did not happen within %s", what, d)
	}
}

// TestManagerStopsPromptlyWithWorkInFlight stops a leader-elected manager
// while its FleetSource controller fetches and its reporter pushes to the
// status branch, both from a git server that hangs. The cancellation
// reaches both requests, and the manager stops at once: Start returns no
// error (none of its runnables outlived GracefulShutdownTimeout) and the
// stop, the release of the Lease included, takes a small part of it.
func TestManagerStopsPromptlyWithWorkInFlight(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, fleet.Options{Operations: []string{fleet.BondFlip}, AnyTime: true}, nil)
	git := newStallingGit(t, "fleet.git", "status.git")

	fs := &v1.FleetSource{}
	require.NoError(t, s.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: "fleet"}, fs))
	fs.Spec.Repo = git.URL + "/fleet.git"
	require.NoError(t, s.Client.Update(ctx, fs))

	key := harness.NewSSHKey(t, s.Name)
	data, err := os.ReadFile(key.PrivatePath)
	require.NoError(t, err)
	signer, err := statusbranch.ParseSigningKey(data)
	require.NoError(t, err)
	w := &statusbranch.Writer{URL: git.URL + "/status.git", Cluster: s.Name, Signer: signer, QueueDir: t.TempDir()}
	t.Cleanup(func() { _ = w.Close() })

	m, err := s.StartReconciler(func(o *reconciler.Options) {
		o.Publisher, o.LeaderElection = w, true
	})
	require.NoError(t, err)
	within(t, git.arrived["fleet.git"], time.Minute, "the FleetSource fetch")
	within(t, git.arrived["status.git"], time.Minute, "the status branch push")

	stopping := time.Now()
	err = m.Stop()
	took := time.Since(stopping)
	require.NoError(t, err, "no runnable outlived the graceful shutdown timeout")
	assert.Less(t, took, reconciler.GracefulShutdownTimeout/5, "the manager stops promptly with work in flight")
	within(t, git.ended["fleet.git"], 5*time.Second, "the end of the cancelled fetch")
	within(t, git.ended["status.git"], 5*time.Second, "the end of the cancelled push")
	t.Logf("stopped in %s with a fetch and a push in flight", took)
}
