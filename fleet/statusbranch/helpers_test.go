package statusbranch_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewright/nodewright/fleet/statusbranch"
	"github.com/nodewright/nodewright/reconciler/audit"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/harness"
)

// branch is the status branch the tests write.
const branch = statusbranch.DefaultBranch

// testTB is the part of testing.TB the helpers need, so benchmarks use
// them too.
type testTB interface {
	require.TestingT
	harness.TB
}

// served is a bare repository served by the real git http-backend.
type served struct {
	Bare string
	URL  string
}

// serveBare makes an empty bare repository and serves it over smart HTTP.
func serveBare(t testTB) *served {
	t.Helper()
	root := t.TempDir()
	bare := filepath.Join(root, "status.git")
	runGit(t, "", "init", "-q", "--bare", "-b", "main", bare)
	srv := harness.ServeGit(t, root)
	return &served{Bare: bare, URL: srv.URL + "/status.git"}
}

// runGit runs the real git CLI in dir (when set) with a neutral
// configuration and returns its trimmed output.
func runGit(t testTB, dir string, args ...string) string {
	t.Helper()
	out, err := gitCmd(dir, nil, args...)
	require.NoError(t, err, "git %s", strings.Join(args, " "))
	return out
}

func gitCmd(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	if dir != "" {
		cmd.Dir = dir
	}
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "LC_ALL=C")
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return strings.TrimSpace(string(out)), fmt.Errorf("%w: %s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// show returns a file of the status branch, or "" and false when absent.
func show(t testTB, bare, path string) (string, bool) {
	t.Helper()
	cmd := exec.Command("git", "show", branch+":"+path)
	cmd.Dir = bare
	out, err := cmd.Output()
	if err != nil {
		return "", false
	}
	return string(out), true
}

// sshSigner makes a key with the real ssh-keygen and a Signer reading its
// private key file.
func sshSigner(t testTB, name string) (*harness.SSHKey, statusbranch.Signer) {
	t.Helper()
	key := harness.NewSSHKey(t, name)
	data, err := os.ReadFile(key.PrivatePath)
	require.NoError(t, err)
	s, err := statusbranch.ParseSigningKey(data)
	require.NoError(t, err)
	return key, s
}

// newWriter returns a Writer for cluster against url with its own queue.
func newWriter(t testTB, url, cluster string, s statusbranch.Signer) *statusbranch.Writer {
	t.Helper()
	w := &statusbranch.Writer{URL: url, Cluster: cluster, Signer: s, QueueDir: t.TempDir()}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// report makes a cluster status with ops operations, at t0 plus n seconds.
func report(cluster string, n, ops int) v1.ClusterStatus {
	st := v1.ClusterStatus{
		Cluster:       cluster,
		Site:          "site-" + cluster,
		AppliedCommit: fmt.Sprintf("%040x", n+1),
		PolicyVersion: 3,
		Nodes:         v1.NodeHealthSummary{Total: 3, Ready: 3},
		Time:          metav1.NewTime(t0.Add(time.Duration(n) * time.Second)),
	}
	for i := 0; i < ops; i++ {
		st.Operations = append(st.Operations, v1.OperationSummary{
			Kind: "BondModeFlipPlan", Name: fmt.Sprintf("bondflip-%04d", i), Phase: "Flip", Progress: fmt.Sprintf("%d/3 nodes", i%3),
		})
	}
	return st
}

// chain is a cluster's audit chain, grown as a reconciler would.
type chain struct {
	cluster string
	log     v1.AuditLog
	all     []v1.AuditRecord
}

// next appends n records and returns them.
func (c *chain) next(n int) []v1.AuditRecord {
	var out []v1.AuditRecord
	for i := 0; i < n; i++ {
		seq := c.log.Seq + 1
		r := audit.Transition{
			Cluster: c.cluster, Site: "site-" + c.cluster, Kind: "BondModeFlipPlan", Name: "bondflip",
			From: fmt.Sprintf("Phase%d", seq-1), To: fmt.Sprintf("Phase%d", seq), Reason: "Progressed",
			Message: fmt.Sprintf("step %d of %s", seq, c.cluster), Actor: "nodewright-reconciler",
			SourceCommit: fmt.Sprintf("%040x", seq), Time: t0.Add(time.Duration(seq) * time.Minute),
		}.Record()
		rec := audit.Append(&c.log, r)
		out = append(out, rec)
		c.all = append(c.all, rec)
	}
	return out
}

// branchAudit reads and verifies a cluster's audit.jsonl on the branch.
func branchAudit(t testTB, bare, cluster string) []v1.AuditRecord {
	t.Helper()
	path := "clusters/" + cluster + "/audit.jsonl"
	data, ok := show(t, bare, path)
	require.True(t, ok, "%s missing", path)
	recs, err := audit.ParseJSONL(path, strings.NewReader(data))
	require.NoError(t, err)
	require.NoError(t, audit.Verify(recs), "%s", path)
	return recs
}

// branchStatus reads and parses a cluster's status.yaml on the branch.
func branchStatus(t testTB, bare, cluster string) *statusbranch.Status {
	t.Helper()
	path := "clusters/" + cluster + "/status.yaml"
	data, ok := show(t, bare, path)
	require.True(t, ok, "%s missing", path)
	st, err := statusbranch.ParseStatus(path, []byte(data))
	require.NoError(t, err)
	return st
}

// gate is a TCP forwarder in front of a server that the test can take down
// and bring back up on the same address, as a remote site's link fails.
type gate struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newGate(t testTB, target string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := &gate{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	g.serve(ln)
	t.Cleanup(func() { g.down(); g.wg.Wait() })
	return g
}

func (g *gate) serve(ln net.Listener) {
	g.mu.Lock()
	g.ln = ln
	g.mu.Unlock()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.wg.Add(1)
			go func() {
				defer g.wg.Done()
				g.forward(c)
			}()
		}
	}()
}

func (g *gate) forward(c net.Conn) {
	up, err := net.Dial("tcp", g.target)
	if err != nil {
		_ = c.Close()
		return
	}
	g.mu.Lock()
	if g.ln == nil {
		g.mu.Unlock()
		_ = c.Close()
		_ = up.Close()
		return
	}
	g.conns[c], g.conns[up] = struct{}{}, struct{}{}
	g.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	_ = c.Close()
	_ = up.Close()
	<-done
	g.mu.Lock()
	delete(g.conns, c)
	delete(g.conns, up)
	g.mu.Unlock()
}

// down closes the listener and every open connection: the address refuses
// connections.
func (g *gate) down() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		_ = g.ln.Close()
		g.ln = nil
	}
	for c := range g.conns {
		_ = c.Close()
	}
}

// up listens on the same address again.
func (g *gate) up(t testTB) {
	t.Helper()
	ln, err := net.Listen("tcp", g.addr)
	require.NoError(t, err)
	g.serve(ln)
}

func gitExec(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "LC_ALL=C")
	return cmd
}

// hashes lists the records' hashes: a record's identity, whatever time
// zone its time was read back in.
func hashes(recs []v1.AuditRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Hash
	}
	return out
}
