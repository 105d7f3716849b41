//go:build linux

package mirror

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// The benchmark's fleet repository: benchCommits commits that together
// touch benchFiles files, spread over benchDirs directories.
const (
	benchCommits = 10000
	benchFiles   = 5000
	benchDirs    = 50
	benchBranch  = "main"
	benchRepo    = "fleet.git"
)

// Environment variables by which BenchmarkIncrementalFetch tells a child
// process (this test binary, running TestFetchChild) what to fetch.
const (
	childDirEnv  = "NODEWRIGHT_MIRROR_BENCH_CHILD_DIR"
	childURLEnv  = "NODEWRIGHT_MIRROR_BENCH_CHILD_URL"
	childTipPref = "fetched "
	childHWMPref = "vmhwm-kib"
)

// benchEnv is built once per test process and shared by every run of the
// benchmark: the source repository, its HTTP server, a go-git mirror and a
// git CLI mirror clone of it.
type benchEnv struct {
	root      string // temporary directory holding everything
	source    string // the bare source repository, served over HTTP
	url       string
	mirrorDir string // the Mirror
	cliDir    string // git clone --mirror
	commits   int    // commits added to the source so far
}

var (
	benchOnce  sync.Once
	benchSetup *benchEnv
	benchErr   error
)

// benchGit runs git in dir with the test configuration and no automatic
// maintenance, so that the CLI timings measure the fetch alone.
func benchGit(dir string, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.Command("git", gitArgs(append([]string{"-c", "gc.auto=0", "-c", "maintenance.auto=false"}, args...)...)...)
	cmd.Dir = dir
	// glibc returns freed memory to the kernel and takes it back at
	// every turn of fast-import's loop; padding the heap top cuts the
	// build of the repository from about 12 s of brk calls to about 1 s.
	cmd.Env = append(gitEnv(), "MALLOC_TOP_PAD_=67108864", "MALLOC_TRIM_THRESHOLD_=268435456")
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// benchPath names the file commit i of the stream touches. The first
// benchFiles commits add one file each; the rest modify them, scattered.
func benchPath(i int) string {
	f := i % benchFiles
	if i >= benchFiles {
		f = (i * 7919) % benchFiles
	}
	return fmt.Sprintf("sites/site-%02d/operations/op-%04d.yaml", f%benchDirs, f)
}

// benchContent is the content of a file as commit i leaves it.
func benchContent(path string, i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: nodewright.io/v1alpha1\nkind: ReplicationUpgrade\nmetadata:\n  name: %s\n", path)
	fmt.Fprintf(&b, "spec:\n  resourceGroup: rg-%d\n  fromPlace: 2\n  toPlace: 3\n  batchSize: %d\n  revision: %d\n", i%7, 1+i%3, i)
	return b.String()
}

// writeCommit writes one fast-import commit that sets path to content.
func writeCommit(w *bufio.Writer, i int, from bool) {
	path := benchPath(i)
	content := benchContent(path, i)
	msg := fmt.Sprintf("change %d: %s\n", i, path)
	fmt.Fprintf(w, "commit refs/heads/%s\ncommitter x <x@example.test> %d +0000\ndata %d\n%s", benchBranch, 1700000000+i*60, len(msg), msg)
	if from {
		fmt.Fprintf(w, "from refs/heads/%s^0\n", benchBranch)
	}
	fmt.Fprintf(w, "M 100644 inline %s\ndata %d\n%s\n", path, len(content), content)
}

// fastImport feeds commits [first, first+n) to git fast-import in the
// source repository.
func (e *benchEnv) fastImport(first, n int) error {
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 1<<20)
		for i := first; i < first+n; i++ {
			writeCommit(w, i, i == first && first > 0)
		}
		err := w.Flush()
		pw.CloseWithError(err)
	}()
	_, err := benchGit(e.source, pr, "fast-import", "--quiet")
	_ = pr.Close()
	return err
}

// addCommit adds one commit to the source and returns it.
func (e *benchEnv) addCommit() (plumbing.Hash, error) {
	if err := e.fastImport(e.commits, 1); err != nil {
		return plumbing.ZeroHash, err
	}
	e.commits++
	out, err := benchGit(e.source, nil, "rev-parse", "refs/heads/"+benchBranch)
	return plumbing.NewHash(out), err
}

// setupBench builds the shared benchmark environment.
func setupBench(b *testing.B) (*benchEnv, error) {
	root, err := os.MkdirTemp("", "mirror-bench-")
	if err != nil {
		return nil, err
	}
	atExit = append(atExit, func() { _ = os.RemoveAll(root) })
	e := &benchEnv{
		root:      root,
		source:    filepath.Join(root, "serve", benchRepo),
		mirrorDir: filepath.Join(root, "mirror"),
		cliDir:    filepath.Join(root, "cli.git"),
	}

	start := time.Now()
	if _, err := benchGit(root, nil, "init", "--quiet", "--bare", e.source); err != nil {
		return nil, err
	}
	if err := e.fastImport(0, benchCommits); err != nil {
		return nil, err
	}
	e.commits = benchCommits
	// One pack, as a served repository usually has.
	if _, err := benchGit(e.source, nil, "repack", "-a", "-d", "-q"); err != nil {
		return nil, err
	}
	b.Logf("built %d commits touching %d files in %s", benchCommits, benchFiles, time.Since(start).Round(time.Millisecond))

	backend := gitHTTPBackend(b)
	srv := httptest.NewServer(&cgi.Handler{
		Path:   backend,
		Root:   "/",
		Stderr: io.Discard,
		Env: []string{
			"GIT_PROJECT_ROOT=" + filepath.Dir(e.source),
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=" + os.DevNull,
		},
	})
	atExit = append(atExit, srv.Close)
	e.url = srv.URL + "/" + benchRepo

	// The initial fetch runs in a child process: on Linux a child started
	// from this process inherits its peak resident size into its own
	// Maxrss, so this process must stay small for the figure to mean
	// anything.
	start = time.Now()
	want, err := benchGit(e.source, nil, "rev-parse", "refs/heads/"+benchBranch)
	if err != nil {
		return nil, err
	}
	initial, err := e.childFetch(plumbing.NewHash(want))
	if err != nil {
		return nil, err
	}
	b.Logf("go-git initial fetch: %s, peak %d MiB", time.Since(start).Round(time.Millisecond), initial.maxRSS/1024)

	start = time.Now()
	if _, err := benchGit(root, nil, "clone", "--quiet", "--mirror", e.url, e.cliDir); err != nil {
		return nil, err
	}
	b.Logf("git clone --mirror: %s", time.Since(start).Round(time.Millisecond))
	return e, nil
}

// BenchmarkIncrementalFetch times fetching one new commit of a repository
// of 10,000 commits and 5,000 files over smart HTTP, with go-git into a
// Mirror (opened fresh each time, as a command-line run does) against git
// fetch into a git clone --mirror, in the same run. It reports the ratio
// of the two, and the peak resident size of a child process doing one
// such fetch. ns/op is the go-git fetch.
func BenchmarkIncrementalFetch(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a repository of 10,000 commits; skipped with -short")
	}
	benchOnce.Do(func() { benchSetup, benchErr = setupBench(b) })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	e := benchSetup
	ctx := context.Background()

	var gogit, cli time.Duration
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		want, err := e.addCommit()
		if err != nil {
			b.Fatal(err)
		}

		b.StartTimer()
		start := time.Now()
		m, err := Open(e.mirrorDir)
		if err != nil {
			b.Fatal(err)
		}
		got, err := m.Fetch(ctx, FetchOptions{URL: e.url, Branch: benchBranch})
		_ = m.Close()
		gogit += time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if got != want {
			b.Fatalf("go-git fetched %s, want %s", got, want)
		}

		start = time.Now()
		if _, err := benchGit(e.cliDir, nil, "fetch", "--quiet", "origin"); err != nil {
			b.Fatal(err)
		}
		cli += time.Since(start)
		cliTip, err := benchGit(e.cliDir, nil, "rev-parse", "refs/heads/"+benchBranch)
		if err != nil {
			b.Fatal(err)
		}
		if cliTip != want.String() {
			b.Fatalf("git fetched %s, want %s", cliTip, want)
		}
	}

	want, err := e.addCommit()
	if err != nil {
		b.Fatal(err)
	}
	child, err := e.childFetch(want)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(gogit)/float64(cli), "gogit/gitcli")
	b.ReportMetric(float64(cli.Microseconds())/1000/float64(b.N), "gitcli-ms/op")
	b.ReportMetric(float64(child.maxRSS)/1024, "peak-MB")
	b.Logf("incremental fetch child: Maxrss %d KiB, own VmHWM %d KiB; this process VmHWM %d KiB", child.maxRSS, child.hwm, vmHWM())
}

// childResult is what a fetch in a child process used.
type childResult struct {
	maxRSS int64 // Maxrss from wait4, KiB
	hwm    int64 // the child's own VmHWM, KiB
}

// childFetch fetches into the Mirror from a child process (this test
// binary running TestFetchChild), checks that it fetched want, and returns
// the child's peak resident set size.
func (e *benchEnv) childFetch(want plumbing.Hash) (childResult, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestFetchChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childDirEnv+"="+e.mirrorDir, childURLEnv+"="+e.url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return childResult{}, fmt.Errorf("child fetch: %w: %s", err, out)
	}
	if !strings.Contains(string(out), childTipPref+want.String()) {
		return childResult{}, fmt.Errorf("child fetch did not fetch %s: %s", want, out)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return childResult{}, fmt.Errorf("no resource usage for the child")
	}
	res := childResult{maxRSS: ru.Maxrss} // KiB on Linux
	if _, rest, ok := strings.Cut(string(out), childHWMPref); ok {
		line, _, _ := strings.Cut(rest, "\n")
		res.hwm, _ = strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	}
	return res, nil
}

// vmHWM returns the peak resident set size of this process's current
// address space in KiB, from /proc/self/status.
func vmHWM() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// TestFetchChild is the child process of BenchmarkIncrementalFetch: it
// opens the Mirror and fetches once, so that the parent can read the peak
// resident size of a fetch. It skips unless the benchmark started it.
func TestFetchChild(t *testing.T) {
	dir, url := os.Getenv(childDirEnv), os.Getenv(childURLEnv)
	if dir == "" || url == "" {
		t.Skip("only run as the child process of BenchmarkIncrementalFetch")
	}
	m, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tip, err := m.Fetch(t.Context(), FetchOptions{URL: url, Branch: benchBranch})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(childTipPref + tip.String())
	fmt.Println(childHWMPref, vmHWM())
}
