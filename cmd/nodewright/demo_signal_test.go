package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDemoHoldCleansUpOnSignal runs the real binary's `demo --hold` until it
// says it holds its cluster, stops it with a signal, and checks that every
// process it started (kube-apiserver, etcd, the gpg agents, git) is gone and
// that its temporary folders were removed. The demo runs with TMPDIR set to
// a folder of the test's own, so everything it creates lives there and
// every process it starts carries that TMPDIR in its environment.
func TestDemoHoldCleansUpOnSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo starts kube-apiserver and etcd")
	}
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{{"SIGINT", syscall.SIGINT}, {"SIGTERM", syscall.SIGTERM}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmp := demoTempDir(t)
			d := startDemo(t, tmp)

			started := d.processes()
			require.True(t, hasProgram(started, "kube-apiserver") && hasProgram(started, "etcd"),
				"the processes the demo started include kube-apiserver and etcd: %v", started)
			require.DirExists(t, d.base)

			require.NoError(t, d.cmd.Process.Signal(tc.sig))
			select {
			case <-d.exited:
				require.NoError(t, d.err, "demo --hold ends normally when stopped by %s\n%s", tc.name, d.output())
			case <-time.After(demoStopTimeout):
				t.Fatalf("demo did not exit within %s of %s\n%s", demoStopTimeout, tc.name, d.output())
			}
			assert.True(t, strings.Contains(d.output(), "Stopping: the cluster's processes are stopped"), "the demo says it stops its cluster")

			for _, p := range started {
				assert.False(t, p.alive(), "%s left %s behind", tc.name, p)
			}
			assert.Empty(t, marked(t, tmp), "no process started by the demo runs after it exited")
			assert.NoDirExists(t, d.base, "the demo's folder is removed")
			entries, err := os.ReadDir(tmp)
			require.NoError(t, err)
			var left []string
			for _, e := range entries {
				left = append(left, e.Name())
			}
			assert.Empty(t, left, "every temporary folder of the demo (its own, envtest's, the key homes) is removed")
		})
	}
}

// demoHoldTimeout bounds the demo's run up to holding its cluster (about
// ten seconds on two cores once the control plane is built);
// demoStopTimeout bounds its exit after the signal.
const (
	demoHoldTimeout = 5 * time.Minute
	demoStopTimeout = time.Minute
)

// demoTempDir makes the folder the demo gets as TMPDIR: short, as the gpg
// agents put their sockets in homes below it. Whatever the demo leaves
// there, processes included, is removed when the test ends.
func demoTempDir(t *testing.T) string {
	t.Helper()
	tmp, err := os.MkdirTemp("", "nwsig")
	require.NoError(t, err)
	tmp, err = filepath.EvalSymlinks(tmp)
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, p := range marked(t, tmp) {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
		_ = os.RemoveAll(tmp)
	})
	return tmp
}

// runningDemo is a `nodewright demo --hold` started by the test.
type runningDemo struct {
	cmd  *exec.Cmd
	tmp  string
	base string
	// exited is closed once the demo exited and was reaped; err is
	// what Wait returned.
	exited chan struct{}
	err    error
	out    *lockedBuffer
}

// startDemo starts `demo --hold` with TMPDIR=tmp and returns once it
// printed that it holds its cluster.
func startDemo(t *testing.T, tmp string) *runningDemo {
	t.Helper()
	d := &runningDemo{tmp: tmp, exited: make(chan struct{}), out: &lockedBuffer{}}
	holding := make(chan struct{})
	var once sync.Once
	lines := &lineWriter{line: func(line string) {
		d.out.WriteString(line + "\n")
		if strings.TrimSpace(line) == demoHolding {
			once.Do(func() { close(holding) })
		}
	}}
	d.cmd = exec.Command(binary, "demo", "--hold")
	d.cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	d.cmd.Stdout, d.cmd.Stderr = lines, d.out
	// Wait stops copying output this long after the demo exited, even if
	// a process it left behind still holds the pipe.
	d.cmd.WaitDelay = 10 * time.Second
	require.NoError(t, d.cmd.Start())
	go func() {
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
	})
	select {
	case <-holding:
	case <-d.exited:
		t.Fatalf("demo ended before holding its cluster: %v\n%s", d.err, d.output())
	case <-time.After(demoHoldTimeout):
		t.Fatalf("demo did not hold its cluster within %s\n%s", demoHoldTimeout, d.output())
	}
	const intro = "Everything below uses throwaway keys in "
	for line := range strings.Lines(d.output()) {
		if rest, ok := strings.CutPrefix(line, intro); ok {
			d.base = strings.TrimSuffix(strings.TrimSpace(rest), ".")
		}
	}
	require.True(t, strings.HasPrefix(d.base, tmp+string(filepath.Separator)), "the demo's folder %q is below TMPDIR %s", d.base, tmp)
	return d
}

func (d *runningDemo) output() string { return d.out.String() }

// processes returns the demo and every process it started that runs now:
// its descendants, and the processes that carry its TMPDIR (daemons such
// as gpg-agent leave the demo's process tree but keep its environment).
func (d *runningDemo) processes() []proc {
	all := scanProcs()
	children := map[int][]int{}
	for _, p := range all {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	byPID := map[int]proc{}
	for _, p := range all {
		byPID[p.pid] = p
	}
	seen := map[int]bool{}
	var out []proc
	var walk func(pid int)
	walk = func(pid int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		if p, ok := byPID[pid]; ok && p.state != 'Z' {
			out = append(out, p)
		}
		for _, c := range children[pid] {
			walk(c)
		}
	}
	walk(d.cmd.Process.Pid)
	for _, p := range all {
		if p.carries(d.tmp) {
			walk(p.pid)
		}
	}
	return out
}

// marked returns the live processes that carry tmp as their TMPDIR or name
// it on their command line.
func marked(t *testing.T, tmp string) []proc {
	t.Helper()
	var out []proc
	for _, p := range scanProcs() {
		if p.state != 'Z' && p.carries(tmp) {
			out = append(out, p)
		}
	}
	return out
}

// proc is one process as /proc shows it.
type proc struct {
	pid, ppid int
	state     byte
	start     uint64 // start time in clock ticks after boot: tells a reused PID apart
	cmdline   []string
	environ   []string
}

func (p proc) String() string {
	return fmt.Sprintf("pid %d (%s)", p.pid, strings.Join(p.cmdline, " "))
}

// carries reports whether p runs with TMPDIR=tmp or names a path below
// tmp on its command line.
func (p proc) carries(tmp string) bool {
	for _, e := range p.environ {
		if e == "TMPDIR="+tmp {
			return true
		}
	}
	for _, a := range p.cmdline {
		if strings.Contains(a, tmp+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// alive reports whether p still runs: the same PID with the same start
// time and not a zombie (an exited process whose parent has not reaped it
// holds no resources; orphans here may be reparented to an init that
// never reaps).
func (p proc) alive() bool {
	now, ok := readProc(p.pid)
	return ok && now.start == p.start && now.state != 'Z'
}

// hasProgram reports whether one of ps runs the program named name.
func hasProgram(ps []proc, name string) bool {
	for _, p := range ps {
		if len(p.cmdline) > 0 && filepath.Base(p.cmdline[0]) == name {
			return true
		}
	}
	return false
}

// scanProcs reads every process of /proc it may read.
func scanProcs() []proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

// readProc reads /proc/<pid>; ok is false when the process is gone.
func readProc(pid int) (proc, bool) {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return proc{}, false
	}
	// pid (comm) state ppid ... with comm in parentheses, possibly holding
	// spaces: the fields after the last ')' are fixed.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return proc{}, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 {
		return proc{}, false
	}
	p := proc{pid: pid, state: f[0][0]}
	p.ppid, _ = strconv.Atoi(f[1])
	p.start, _ = strconv.ParseUint(f[19], 10, 64)
	if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		p.cmdline = splitNUL(b)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "environ")); err == nil {
		p.environ = splitNUL(b)
	}
	return p, true
}

func splitNUL(b []byte) []string {
	var out []string
	for s := range strings.SplitSeq(strings.TrimRight(string(b), "\x00"), "\x00") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// lineWriter calls line for every complete line written to it.
type lineWriter struct {
	mu      sync.Mutex
	pending []byte
	line    func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = append(w.pending, p...)
	for {
		i := bytes.IndexByte(w.pending, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.line(string(w.pending[:i]))
		w.pending = w.pending[i+1:]
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers and readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.WriteString(s)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
