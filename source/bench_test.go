package source

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/nodewright/nodewright/source/mirror"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/source/trust"
	"github.com/nodewright/nodewright/test/harness"
)

// benchHistory is a signed history built once per benchmark process.
type benchHistory struct {
	key   *harness.GPGKey
	hist  *harness.History
	root  *trust.Policy
	store storer.EncodedObjectStorer
}

var (
	benchOnce  sync.Map // n -> *benchHistory
	benchMutex sync.Mutex
)

func historyOf(b *testing.B, n int) *benchHistory {
	benchMutex.Lock()
	defer benchMutex.Unlock()
	if h, ok := benchOnce.Load(n); ok {
		return h.(*benchHistory)
	}
	// Benchmarks share the history across b.N rounds; it must outlive b.
	tb := &processTB{}
	key := harness.NewGPGKey(tb, "bench")
	pol := harness.Policy{
		Version:    1,
		Principals: []harness.Principal{harness.Person("bench", key)},
		Roles: map[string]harness.Role{
			"committers":   {Principals: []string{"bench"}, Threshold: 1},
			"trust-admins": {Principals: []string{"bench"}, Threshold: 1},
		},
	}
	start := time.Now()
	hist := harness.SignedHistory(tb, tb.TempDir(), n, pol.YAML(), key.SecretEntity(tb))
	b.Logf("built a %d-commit signed history in %s", n, time.Since(start).Round(time.Millisecond))
	root, err := trust.Parse("root.yaml", []byte(pol.YAML()))
	require.NoError(b, err)
	// Read the objects the way a Source does: through its mirror storage.
	m, err := mirror.Open(filepath.Join(hist.Dir, ".git"))
	require.NoError(b, err)
	tb.Cleanup(func() { m.Close() })
	h := &benchHistory{key: key, hist: hist, root: root, store: m.Storer()}
	benchOnce.Store(n, h)
	return h
}

// processTB is a harness.TB whose cleanups run when the test binary exits
// (TestMain), so fixtures can be shared by benchmarks.
type processTB struct{}

var processCleanups []func()

func (processTB) Helper()                           {}
func (processTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (processTB) Errorf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (processTB) Cleanup(f func())                  { processCleanups = append(processCleanups, f) }
func (p processTB) TempDir() string {
	dir, err := os.MkdirTemp("", "nodewright-bench-")
	if err != nil {
		p.Fatalf("temp dir: %v", err)
	}
	p.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(processCleanups) - 1; i >= 0; i-- {
		processCleanups[i]()
	}
	os.Exit(code)
}

func verifyAll(b *testing.B, h *benchHistory, last, tip string) *Result {
	lastHash := plumbing.ZeroHash
	if last != "" {
		lastHash = plumbing.NewHash(last)
	}
	v := &Verifier{Root: h.root, Store: h.store}
	res, err := v.Verify(lastHash, plumbing.NewHash(tip))
	if err != nil {
		b.Fatal(err)
	}
	if !res.Accepted() {
		b.Fatalf("refused: %v", res.Refusals)
	}
	return res
}

// BenchmarkVerifyHistory verifies a 2,000-commit OpenPGP-signed history
// from scratch and compares it with `git verify-commit` over the same
// commits in the same run. Target: at least 10x faster.
func BenchmarkVerifyHistory(b *testing.B) {
	const n = 2000
	h := historyOf(b, n)
	tip := h.hist.Commits[n-1]
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		res := verifyAll(b, h, "", tip)
		if len(res.Commits) != n {
			b.Fatalf("verified %d commits, want %d", len(res.Commits), n)
		}
	}
	ours := time.Since(start) / time.Duration(b.N)
	b.StopTimer()

	cmd := exec.Command("git", append([]string{"verify-commit"}, h.hist.Commits...)...)
	cmd.Dir = h.hist.Dir
	cmd.Env = append(os.Environ(), "GNUPGHOME="+h.key.Home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	start = time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git verify-commit: %v\n%.2000s", err, out)
	}
	gitTime := time.Since(start)
	b.ReportMetric(float64(ours.Milliseconds()), "ms/verify")
	b.ReportMetric(float64(gitTime.Milliseconds()), "git-ms")
	b.ReportMetric(float64(gitTime)/float64(ours), "x-faster-than-git")
	b.Logf("verify %d commits: nodewright %s, git verify-commit %s: %.1fx faster (target >= 10x)", n, ours.Round(time.Millisecond), gitTime.Round(time.Millisecond), float64(gitTime)/float64(ours))
}

// BenchmarkVerifyIncremental verifies 10 new commits on top of a
// 10,000-commit accepted history and compares with verifying all 10,000.
// Target: under 2%.
func BenchmarkVerifyIncremental(b *testing.B) {
	const accepted, fresh = 10000, 10
	h := historyOf(b, accepted+fresh)
	last := h.hist.Commits[accepted-1]
	tip := h.hist.Commits[accepted+fresh-1]

	start := time.Now()
	verifyAll(b, h, "", last)
	full := time.Since(start)

	b.ResetTimer()
	start = time.Now()
	for i := 0; i < b.N; i++ {
		res := verifyAll(b, h, last, tip)
		if len(res.Commits) != fresh {
			b.Fatalf("verified %d commits, want %d", len(res.Commits), fresh)
		}
	}
	incr := time.Since(start) / time.Duration(b.N)
	b.StopTimer()
	b.ReportMetric(float64(incr.Microseconds())/1000, "ms/incremental")
	b.ReportMetric(float64(full.Milliseconds()), "ms/full")
	b.ReportMetric(100*float64(incr)/float64(full), "%-of-full")
	b.Logf("10 new on 10,000: %s; all 10,000: %s; %.2f%% (target < 2%%)", incr.Round(time.Microsecond), full.Round(time.Millisecond), 100*float64(incr)/float64(full))
}
