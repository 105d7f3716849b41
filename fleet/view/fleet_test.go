package view_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/fleet/view"
	"github.com/nodewright/nodewright/fleet/view/viewtest"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/harness"
)

// sampleFleet has four clusters on three sites: alpha (south) healthy with
// an operation in flight, bravo (north) silent for three hours, charlie
// (north, an OpenPGP key) with a halted operation, delta (central) with an
// unreadable report.
func sampleFleet(t *testing.T) *viewtest.Fleet {
	t.Helper()
	sampleOnce.Do(func() { sampleBase = buildSampleFleet(shared) })
	return sampleBase.Fork(t)
}

func buildSampleFleet(t harness.TB) *viewtest.Fleet {
	f := viewtest.New(t,
		viewtest.Spec{Name: "alpha", Site: "south", Key: harness.NewSSHKey(t, "alpha")},
		viewtest.Spec{Name: "bravo", Site: "north", Key: harness.NewSSHKey(t, "bravo")},
		viewtest.Spec{Name: "charlie", Site: "north", Key: harness.NewGPGKey(t, "charlie")},
		viewtest.Spec{Name: "delta", Site: "central", Key: harness.NewSSHKey(t, "delta")},
	)
	flip := v1.OperationSummary{Kind: "BondModeFlipPlan", Name: "bond0-to-lacp", Phase: "Flip", Progress: "1/3 nodes"}
	f.Report("alpha", f.Status("alpha", 5*time.Minute, 3, 3, flip,
		v1.OperationSummary{Kind: "ReplicationUpgrade", Name: "rg-3", Phase: "Succeeded"}),
		f.Transition("alpha", "BondModeFlipPlan", "bond0-to-lacp", "Pending", "AwaitingApproval", "ApprovalRequired", 40*time.Minute),
		f.Transition("alpha", "BondModeFlipPlan", "bond0-to-lacp", "AwaitingApproval", "Preflight", "Approved", 30*time.Minute),
		f.Transition("alpha", "BondModeFlipPlan", "bond0-to-lacp", "Preflight", "Flip", "PreflightPassed", 20*time.Minute))
	f.Report("bravo", f.Status("bravo", 3*time.Hour+10*time.Minute, 2, 2),
		f.Transition("bravo", "ReplicationUpgrade", "rg-2", "Pending", "AwaitingApproval", "ApprovalRequired", 4*time.Hour))
	f.Report("charlie", f.Status("charlie", 2*time.Minute, 2, 3,
		v1.OperationSummary{Kind: "VMVolumeMigration", Name: "db", Phase: "Halted", Progress: "Copying failed"}),
		f.Transition("charlie", "VMVolumeMigration", "db", "Copying", "Halted", "CopyFailed", 10*time.Minute))
	f.Commit(f.Clusters["delta"].Key, "delta: broken report", func(dir string) {
		p := filepath.Join(dir, "clusters", "delta", "status.yaml")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatalf("%v", err)
		}
		if err := os.WriteFile(p, []byte("cluster: delta\nsite: central\nnodez: 3\ntime: 2025-03-01T12:00:00Z\n"), 0o644); err != nil {
			t.Fatalf("%v", err)
		}
	})
	return f
}

func open(t *testing.T, src view.Source) *view.Repo {
	t.Helper()
	r, err := view.Open(context.Background(), src)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestLoadFleet(t *testing.T) {
	f := sampleFleet(t)
	r := open(t, view.Source{Repo: f.Dir})
	fl, err := view.Load(r, view.Options{Now: f.Now})
	require.NoError(t, err)

	var names []string
	for _, c := range fl.Clusters {
		names = append(names, c.Site+"/"+c.Name)
	}
	// Sorted by site, then name; delta's site is unknown (its report is unreadable).
	assert.Equal(t, []string{"/delta", "north/bravo", "north/charlie", "south/alpha"}, names)

	byName := map[string]view.Cluster{}
	for _, c := range fl.Clusters {
		byName[c.Name] = c
	}
	alpha := byName["alpha"]
	assert.Equal(t, view.Healthy, alpha.Health)
	assert.Equal(t, "Healthy (3/3 nodes ready)", alpha.Summary)
	assert.Equal(t, f.FleetCommit, alpha.AppliedCommit)
	require.NotNil(t, alpha.AppliedCommitTime)
	assert.Equal(t, "2d", view.Age(f.Now.Sub(*alpha.AppliedCommitTime)))
	assert.True(t, alpha.AppliedIsFleetTip)
	assert.Equal(t, 1, alpha.PolicyVersion)
	require.Len(t, alpha.Active(), 1, "the succeeded upgrade is not in flight")
	assert.Equal(t, "BondModeFlipPlan/bond0-to-lacp Flip (1/3 nodes)", alpha.Active()[0].String())
	assert.Equal(t, view.InFlight, alpha.Active()[0].State)
	require.NotNil(t, alpha.LastReport)
	assert.Equal(t, f.Now.Add(-5*time.Minute), *alpha.LastReport)

	assert.Equal(t, view.Unknown, byName["bravo"].Health)
	assert.Equal(t, "Unknown (last report 3h ago)", byName["bravo"].Summary)

	charlie := byName["charlie"]
	assert.Equal(t, view.Degraded, charlie.Health)
	assert.Equal(t, "Degraded (2/3 nodes ready, 1 failed operation)", charlie.Summary)
	assert.Equal(t, view.Failed, charlie.Operations[0].State)

	delta := byName["delta"]
	assert.Equal(t, view.Invalid, delta.Health)
	assert.Equal(t, "clusters/delta/status.yaml:3:1: nodez: unknown field", delta.Problem)

	// A longer threshold makes bravo known again.
	fl, err = view.Load(r, view.Options{Now: f.Now, StaleAfter: 4 * time.Hour})
	require.NoError(t, err)
	for _, c := range fl.Clusters {
		if c.Name == "bravo" {
			assert.Equal(t, view.Healthy, c.Health)
		}
	}
}

func TestOpenEveryKindOfRepository(t *testing.T) {
	f := chainFleet(t)
	tip := f.StatusTree.Head()

	// The status branch pushed into main's work tree: a non-bare repository.
	f.StatusTree.Git("push", "-q", f.Main.Dir, "HEAD:refs/heads/"+viewtest.StatusBranch)
	srv := harness.ServeGit(t, filepath.Dir(f.Dir))
	cases := []struct {
		name string
		src  view.Source
	}{
		{"bare path", view.Source{Repo: f.Dir}},
		{"work tree", view.Source{Repo: f.Main.Dir}},
		{"clone with a remote-tracking branch", view.Source{Repo: f.Clone()}},
		{"file URL", view.Source{Repo: "file://" + f.Dir}},
		{"smart HTTP", view.Source{Repo: srv.URL + "/" + filepath.Base(f.Dir)}},
		{"smart HTTP into a kept mirror", view.Source{Repo: srv.URL + "/" + filepath.Base(f.Dir), MirrorDir: filepath.Join(t.TempDir(), "m")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := open(t, c.src)
			assert.Equal(t, tip, r.Tip.String())
			assert.Equal(t, f.FleetCommit, r.FleetTip.String())
			fl, err := view.Load(r, view.Options{Now: f.Now})
			require.NoError(t, err)
			require.Len(t, fl.Clusters, 2)
			assert.Equal(t, view.Healthy, fl.Clusters[0].Health)
			rep, err := view.Verify(r, view.VerifyOptions{})
			require.NoError(t, err)
			assert.True(t, rep.Intact(), "%+v", rep.Problems)
		})
	}
}

func TestOpenErrors(t *testing.T) {
	f := chainFleet(t)
	r := open(t, view.Source{Repo: f.Dir, FleetBranch: "nope"})
	assert.True(t, r.FleetTip.IsZero())
	require.Error(t, r.FleetErr)
	_, err := view.LoadKeys(r)
	require.Error(t, err)

	_, err = view.Open(context.Background(), view.Source{Repo: f.Dir, FleetBranch: "nope", NeedFleet: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "has no branch nope")

	_, err = view.Open(context.Background(), view.Source{Repo: t.TempDir()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is not a git repository")
	_, err = view.Open(context.Background(), view.Source{Repo: f.Dir, Branch: "bad..name"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a valid branch name")

	srv := harness.ServeGit(t, filepath.Dir(f.Dir))
	for _, repo := range []string{f.Dir, srv.URL + "/" + filepath.Base(f.Dir)} {
		_, err = view.Open(context.Background(), view.Source{Repo: repo, Branch: "nodewright/other"})
		require.Error(t, err)
		assert.True(t, errors.Is(err, view.ErrNoStatusBranch), "%v", err)
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Minute:                 "0s",
		42 * time.Second:             "42s",
		59 * time.Minute:             "59m",
		3*time.Hour + 59*time.Minute: "3h",
		47 * time.Hour:               "47h",
		50 * time.Hour:               "2d",
		400 * 24 * time.Hour:         "400d",
	} {
		assert.Equal(t, want, view.Age(d), "%v", d)
	}
}

func TestStateOf(t *testing.T) {
	for p, want := range map[string]view.OperationState{
		"Pending": view.InFlight, "AwaitingApproval": view.InFlight, "Flip": view.InFlight,
		"Halted": view.Failed, "RollingBack": view.Failed, "RolledBack": view.Failed,
		"Succeeded": view.Done, "Aborted": view.Done,
	} {
		assert.Equal(t, want, view.StateOf(p), p)
	}
}

func TestLoadSummaryReport(t *testing.T) {
	f := chainFleet(t)
	var ops []v1.OperationSummary
	for i := range 1000 {
		phase := "Succeeded"
		switch {
		case i%400 == 7:
			phase = "Halted"
		case i%100 == 3:
			phase = "Placing"
		}
		ops = append(ops, v1.OperationSummary{Kind: "ReplicationUpgrade", Name: fmt.Sprintf("resource-group-%04d", i), Phase: phase, Progress: "batch 1/4"})
	}
	f.Report("a", f.Status("a", time.Minute, 2, 2, ops...))
	fl, err := view.Load(open(t, view.Source{Repo: f.Dir}), view.Options{Now: f.Now})
	require.NoError(t, err)
	a := fl.Clusters[0]
	require.Equal(t, "a", a.Name)
	assert.True(t, a.Truncated)
	assert.Equal(t, 1000, a.TotalOperations)
	assert.Less(t, len(a.Operations), 1000)
	assert.Equal(t, 3, a.FailedOperations)
	assert.Equal(t, 10, a.InFlight)
	assert.Equal(t, view.Degraded, a.Health)
	assert.Equal(t, "Degraded (2/2 nodes ready, 3 failed operations)", a.Summary)
}
