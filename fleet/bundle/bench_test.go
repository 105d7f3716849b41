package bundle_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/fleet/bundle"
	"github.com/nodewright/nodewright/source"
	"github.com/nodewright/nodewright/source/trust"
	"github.com/nodewright/nodewright/test/harness"
)

// BenchmarkIncrementalBundle makes and imports a bundle of 10 new commits
// on a 10,000-commit OpenPGP-signed fleet repository: Create at the hub,
// Import at a site whose source accepted the first 10,000 (manifest check,
// digest, prerequisites, sequence, import into the mirror and verification
// of the 10 commits). Targets: under 1 s each, and a bundle whose size
// follows the new commits, not the history. In the same run the git CLI
// does the same with `git bundle create` and `git fetch` from the bundle;
// the ratios (ours/git) are reported.
func BenchmarkIncrementalBundle(b *testing.B) {
	const accepted, fresh, wide = 10000, 10, 100
	gpgKey := harness.NewGPGKey(b, "bench")
	ops := harness.NewSSHKey(b, "ops")
	pol := harness.Policy{
		Version:    1,
		Principals: []harness.Principal{harness.Person("bench", gpgKey, ops)},
		Roles: map[string]harness.Role{
			"committers":   {Principals: []string{"bench"}, Threshold: 1},
			"trust-admins": {Principals: []string{"bench"}, Threshold: 1},
		},
	}
	root, err := trust.Parse("root.yaml", []byte(pol.YAML()))
	require.NoError(b, err)
	start := time.Now()
	hist := harness.SignedHistory(b, filepath.Join(b.TempDir(), "hub"), accepted+fresh, pol.YAML(), gpgKey.SecretEntity(b))
	b.Logf("built a %d-commit signed history in %s", accepted+fresh, time.Since(start).Round(time.Millisecond))
	hub := hist.Dir
	last := hist.Commits[accepted-1]
	tip := hist.Commits[accepted+fresh-1]
	key := signingKey(b, ops)

	// The site: a mirror holding the first 10,000 commits, which its
	// source accepted before; and the same for the git CLI.
	gitIn(b, hub, "update-ref", "refs/heads/site", last)
	site := b.TempDir()
	mirrorDir := filepath.Join(site, "mirror")
	cliDir := filepath.Join(b.TempDir(), "cli.git")
	for _, dir := range []string{mirrorDir, cliDir} {
		gitIn(b, filepath.Dir(dir), "init", "-q", "--bare", "-b", "main", dir)
		gitIn(b, dir, "fetch", "-q", hub, "refs/heads/site:refs/heads/main")
	}
	accept := source.State{Repo: hub, Branch: "main", LastAccepted: last, PolicyVersion: root.Version, PolicyDigest: root.Digest(), AcceptedAt: time.Now().UTC()}
	out := filepath.Join(b.TempDir(), "fleet.bundle")

	var created *bundle.Created
	var createTime, importTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		gitIn(b, mirrorDir, "update-ref", "refs/heads/main", last)
		require.NoError(b, accept.Save(site))
		_ = os.Remove(filepath.Join(site, "verified.cache"))
		b.StartTimer()

		t0 := time.Now()
		created, err = bundle.Create(bundle.CreateOptions{Repo: hub, Out: out, Since: last, Key: key})
		t1 := time.Now()
		require.NoError(b, err)
		res, err := bundle.Import(context.Background(), bundle.ImportOptions{Bundle: out, Into: site, Root: root})
		t2 := time.Now()
		require.NoError(b, err)
		require.True(b, res.Accepted(), "%v", res.Refusals)
		require.Len(b, res.Result.Commits, fresh)
		createTime += t1.Sub(t0)
		importTime += t2.Sub(t1)
	}
	b.StopTimer()
	createTime /= time.Duration(b.N)
	importTime /= time.Duration(b.N)
	require.Equal(b, tip, created.Manifest.Tip)
	require.Equal(b, []string{last}, created.Manifest.Prerequisites)
	size := created.Manifest.Bundle.Size

	// Size against the number of new commits: a bundle of 100.
	wideOut := filepath.Join(b.TempDir(), "wide.bundle")
	wideBundle, err := bundle.Create(bundle.CreateOptions{Repo: hub, Out: wideOut, Since: hist.Commits[accepted+fresh-wide-1], Key: key})
	require.NoError(b, err)
	require.Equal(b, wide, wideBundle.Manifest.Commits)

	// The git CLI: the same bundle by git bundle create, fetched by git.
	gitOut := filepath.Join(b.TempDir(), "git.bundle")
	t0 := time.Now()
	gitIn(b, hub, "bundle", "create", "-q", gitOut, "main", "^"+last)
	gitCreate := time.Since(t0)
	t0 = time.Now()
	gitIn(b, cliDir, "fetch", "-q", gitOut, "refs/heads/main:refs/heads/main")
	gitFetch := time.Since(t0)
	require.Equal(b, tip, gitIn(b, cliDir, "rev-parse", "main"))
	fi, err := os.Stat(gitOut)
	require.NoError(b, err)
	// Our bundle is an ordinary one: git fetches it too.
	gitIn(b, cliDir, "update-ref", "refs/heads/main", last)
	gitIn(b, cliDir, "fetch", "-q", out, "refs/heads/main:refs/heads/main")

	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(createTime), "ms/create")
	b.ReportMetric(ms(importTime), "ms/import")
	b.ReportMetric(float64(size), "bytes/bundle")
	b.ReportMetric(float64(size)/fresh, "bytes/commit")
	b.ReportMetric(float64(wideBundle.Manifest.Bundle.Size)/wide, "bytes/commit@100")
	b.ReportMetric(float64(createTime)/float64(gitCreate), "create/git-bundle-create")
	b.ReportMetric(float64(importTime)/float64(gitFetch), "import/git-fetch")
	b.ReportMetric(float64(size)/float64(fi.Size()), "size/git-bundle")
	b.Logf("10 new commits on %d: create %s, import %s (target < 1 s each); bundle %d bytes (%d/commit; %d/commit for 100); git bundle create %s, git fetch %s, git's bundle %d bytes",
		accepted, createTime.Round(time.Millisecond), importTime.Round(time.Millisecond), size, size/fresh, wideBundle.Manifest.Bundle.Size/wide,
		gitCreate.Round(time.Millisecond), gitFetch.Round(time.Millisecond), fi.Size())
}
