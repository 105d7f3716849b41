package view_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodewright/nodewright/fleet/clusters"
	"github.com/nodewright/nodewright/fleet/view"
)

// BenchmarkVerifyWalk times audit verification's walk over a linear status
// history of 200 commits on a status branch of 10,000 clusters, each
// commit appending to one cluster's audit.jsonl, beside git log --raw over
// the same history (the same tree diffs, done by git). Every commit is
// diffed against its parent on each edge, so the cost grows with the
// commits times the clusters in a flat clusters/ directory; the ratio to
// git says whether that is done as cheaply as git does it. Signatures are
// left out (an empty cluster keys file): their cost is measured by the
// source verifier's benchmarks.
func BenchmarkVerifyWalk(b *testing.B) {
	const clustersN, commitsN = 10000, 200
	dir := buildHistory(b, filepath.Join(b.TempDir(), "fleet.git"), clustersN, commitsN)
	ctx := context.Background()
	keys, err := clusters.Parse("keys.yaml", []byte("apiVersion: nodewright.io/v1alpha1\nkind: ClusterKeys\nclusters: []\n"))
	if err != nil {
		b.Fatal(err)
	}
	var ours, theirs time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		r, err := view.Open(ctx, view.Source{Repo: dir})
		if err != nil {
			b.Fatal(err)
		}
		rep, err := view.Verify(r, view.VerifyOptions{Keys: keys})
		if err != nil {
			b.Fatal(err)
		}
		_ = r.Close()
		ours += time.Since(start)
		if rep.Commits != commitsN+1 {
			b.Fatalf("verified %d commits, want %d", rep.Commits, commitsN+1)
		}

		start = time.Now()
		cmd := exec.Command("git", "log", "--raw", "-r", "--no-renames", "--format=%H", view.DefaultBranch)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			b.Fatal(err)
		}
		theirs += time.Since(start)
		if n := bytes.Count(out, []byte("\n:")); n != commitsN+2*clustersN { // the root commit shows its files
			b.Fatalf("git log showed %d changed files, want %d", n, commitsN+2*clustersN)
		}
	}
	b.StopTimer()
	b.ReportMetric(ours.Seconds()/float64(b.N), "s/verify")
	b.ReportMetric(theirs.Seconds()/float64(b.N), "s/git-log-raw")
	b.ReportMetric(float64(ours)/float64(theirs), "x-git")
}

// buildHistory writes a bare repository whose status branch holds one
// commit with n clusters (a status.yaml and a one-line audit.jsonl each)
// and then commits commits, each appending a line to one cluster's
// audit.jsonl, with git fast-import.
func buildHistory(b *testing.B, dir string, n, commits int) string {
	b.Helper()
	if out, err := exec.Command("git", "init", "-q", "--bare", dir).CombinedOutput(); err != nil {
		b.Fatalf("git init: %v\n%s", err, out)
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(in, 1<<20)
	now := time.Now().Unix()
	ref := "refs/heads/" + view.DefaultBranch
	fmt.Fprintf(w, "commit %s\ncommitter Bench <bench@example.test> %d +0000\ndata 5\nbase\n", ref, now)
	audits := make([]string, n)
	for i := range n {
		name := fmt.Sprintf("edge-%05d", i)
		audits[i] = fmt.Sprintf("{\"seq\":1,\"cluster\":%q}\n", name)
		status := fmt.Sprintf("cluster: %s\nsite: site-%03d\n", name, i%250)
		fmt.Fprintf(w, "M 100644 inline clusters/%s/status.yaml\ndata %d\n%s\n", name, len(status), status)
		fmt.Fprintf(w, "M 100644 inline clusters/%s/audit.jsonl\ndata %d\n%s\n", name, len(audits[i]), audits[i])
	}
	for c := range commits {
		i := (c * 7919) % n
		name := fmt.Sprintf("edge-%05d", i)
		audits[i] += fmt.Sprintf("{\"seq\":%d,\"cluster\":%q}\n", strings.Count(audits[i], "\n")+1, name)
		fmt.Fprintf(w, "commit %s\ncommitter Bench <bench@example.test> %d +0000\ndata 7\nreport\n", ref, now+int64(c)+1)
		fmt.Fprintf(w, "M 100644 inline clusters/%s/audit.jsonl\ndata %d\n%s\n", name, len(audits[i]), audits[i])
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		b.Fatalf("git fast-import: %v\n%s", err, stderr.String())
	}
	return dir
}
