package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewright/nodewright/fleet/statusbranch"
	"github.com/nodewright/nodewright/reconciler/audit"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// BenchmarkFleetStatus times "nodewright fleet status" over status branches
// of 1,000 and 10,000 clusters, running the binary TestMain built as a
// subprocess, and reports its wall time (the
// best of three runs, since other work on the machine only slows it down),
// its CPU time (user and system) and its peak resident set: the child's
// ru_maxrss from wait4, which is the kernel's high-water RSS that
// /proc/<pid>/status shows as VmHWM (the worst of the three runs).
// Targets at 10,000 clusters: under 2 s and under 300 MB.
func BenchmarkFleetStatus(b *testing.B) {
	type result struct {
		seconds, cpu, peakMB float64
	}
	results := map[int]result{}
	repos := map[int]string{}
	root := b.TempDir()
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("clusters=%d", n), func(b *testing.B) {
			repo, ok := repos[n]
			if !ok {
				start := time.Now()
				repo = buildStatusBranch(b, filepath.Join(root, fmt.Sprintf("fleet-%d.git", n)), n)
				repos[n] = repo
				b.Logf("built a status branch of %d clusters in %s", n, time.Since(start).Round(time.Millisecond))
			}
			b.ResetTimer()
			res := result{seconds: -1}
			for range b.N {
				for range 3 {
					r := runFleetStatus(b, binary, repo, n)
					if res.seconds < 0 || r.seconds < res.seconds {
						res.seconds, res.cpu = r.seconds, r.cpu
					}
					res.peakMB = max(res.peakMB, r.peakMB)
				}
			}
			b.StopTimer()
			results[n] = res
			b.ReportMetric(res.seconds, "s/status")
			b.ReportMetric(res.cpu, "cpu-s/status")
			b.ReportMetric(res.peakMB, "peak-RSS-MB")
			if n == 10000 {
				if res.seconds >= 2 {
					b.Errorf("fleet status over %d clusters took %.2f s (%.2f s of CPU); the target is under 2 s", n, res.seconds, res.cpu)
				}
				if res.peakMB >= 300 {
					b.Errorf("fleet status over %d clusters peaked at %.0f MB; the target is under 300 MB", n, res.peakMB)
				}
			}
		})
	}
	small, large := results[1000], results[10000]
	if small.seconds > 0 && large.seconds > 0 {
		b.Logf("from 1,000 to 10,000 clusters: time %.2f s -> %.2f s (x%.1f), CPU %.2f s -> %.2f s (x%.1f), peak RSS %.0f MB -> %.0f MB (x%.1f)",
			small.seconds, large.seconds, large.seconds/small.seconds, small.cpu, large.cpu, large.cpu/small.cpu,
			small.peakMB, large.peakMB, large.peakMB/small.peakMB)
	}
}

// runFleetStatus runs fleet status over repo in a child process and
// measures it.
func runFleetStatus(b *testing.B, exe, repo string, n int) (r struct{ seconds, cpu, peakMB float64 }) {
	b.Helper()
	cmd := exec.Command(exe, "fleet", "status", "--repo", repo)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r.seconds = time.Since(start).Seconds()
	if err != nil {
		b.Fatalf("fleet status: %v\n%s", err, stderr.String())
	}
	if lines := strings.Count(stdout.String(), "\n"); lines != n+2 {
		b.Fatalf("fleet status printed %d lines for %d clusters", lines, n)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no resource usage for the child process")
	}
	r.cpu = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	r.peakMB = float64(ru.Maxrss) / 1024 // KiB on Linux
	return r
}

// buildStatusBranch writes a bare repository at dir whose main holds one
// fleet commit and whose status branch holds one commit with n clusters,
// each with a status.yaml and an audit.jsonl of ten linked records. The
// objects are written by git fast-import in one pass: 10,000 clusters take
// seconds, where 10,000 signed commits would take many minutes.
func buildStatusBranch(b *testing.B, dir string, n int) string {
	b.Helper()
	gitRun(b, "", nil, "init", "-q", "--bare", "-b", "main", dir)
	now := time.Now().UTC().Truncate(time.Second)

	var main bytes.Buffer
	msg := "Fleet\n"
	body := "apiVersion: nodewright.io/v1alpha1\nkind: ClusterKeys\nclusters: []\n"
	fmt.Fprintf(&main, "commit refs/heads/main\ncommitter Bench <bench@example.test> %d +0000\ndata %d\n%s", now.Add(-26*time.Hour).Unix(), len(msg), msg)
	fmt.Fprintf(&main, "M 100644 inline .nodewright/clusters.yaml\ndata %d\n%s\n", len(body), body)
	gitRun(b, dir, &main, "fast-import", "--quiet")
	fleetCommit := gitRun(b, dir, nil, "rev-parse", "refs/heads/main")

	pr, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = dir
	// fast-import grows and frees its tree buffers for every path of a
	// large directory; with glibc's default trim threshold each cycle
	// moves the heap break back and forth, and 10,000 clusters take 40 s
	// of brk calls instead of one second.
	cmd.Env = append(os.Environ(), "MALLOC_TOP_PAD_=268435456", "MALLOC_TRIM_THRESHOLD_=1073741824")
	cmd.Stdin = pr
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	pr.Close()
	w := bufio.NewWriterSize(pw, 1<<20)
	msg = "Status of the whole fleet\n"
	fmt.Fprintf(w, "commit refs/heads/nodewright/status\ncommitter Bench <bench@example.test> %d +0000\ndata %d\n%s", now.Unix(), len(msg), msg)
	phases := []string{"Pending", "AwaitingApproval", "Preflight", "ProtectVMs", "Flip", "Verify", "NodeDone", "Succeeded"}
	for i := range n {
		name := fmt.Sprintf("edge-%05d", i)
		site := fmt.Sprintf("site-%03d", i%250)
		ago := time.Duration(i%50) * time.Minute
		if i%10 == 0 {
			ago = 3 * time.Hour // silent: Unknown
		}
		st := v1.ClusterStatus{
			Cluster: name, Site: site, AppliedCommit: fleetCommit, PolicyVersion: 4,
			Operations: []v1.OperationSummary{
				{Kind: "BondModeFlipPlan", Name: "bond0-to-lacp", Phase: phases[i%len(phases)], Progress: fmt.Sprintf("%d/3 nodes", i%4)},
				{Kind: "ReplicationUpgrade", Name: "rg-storage", Phase: "Succeeded"},
			},
			Nodes: v1.NodeHealthSummary{Total: 3, Ready: 3 - i%7/6},
			Time:  metav1.NewTime(now.Add(-ago)),
		}
		if i%97 == 0 {
			st.Operations = append(st.Operations, v1.OperationSummary{Kind: "VMVolumeMigration", Name: "db", Phase: "Halted"})
		}
		status, _, err := statusbranch.EncodeStatus(st, 0)
		if err != nil {
			b.Fatal(err)
		}
		var log v1.AuditLog
		var jsonl bytes.Buffer
		for j := range 10 {
			rec := audit.Append(&log, v1.AuditRecord{Time: metav1.NewTime(now.Add(-time.Duration(10-j) * time.Minute)),
				Cluster: name, Site: site, Kind: "BondModeFlipPlan", Name: "bond0-to-lacp", From: phases[j%len(phases)], To: phases[(j+1)%len(phases)],
				Reason: "StepDone", Message: "step done", Actor: "nodewright-reconciler", SourceCommit: fleetCommit})
			line, err := json.Marshal(rec)
			if err != nil {
				b.Fatal(err)
			}
			jsonl.Write(line)
			jsonl.WriteByte('\n')
		}
		fmt.Fprintf(w, "M 100644 inline clusters/%s/status.yaml\ndata %d\n%s\n", name, len(status), status)
		fmt.Fprintf(w, "M 100644 inline clusters/%s/audit.jsonl\ndata %d\n%s\n", name, jsonl.Len(), jsonl.Bytes())
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	pw.Close()
	if err := cmd.Wait(); err != nil {
		b.Fatalf("git fast-import: %v\n%s", err, stderr.String())
	}
	return dir
}

// gitRun runs git in dir with stdin and returns its trimmed output.
func gitRun(b *testing.B, dir string, stdin *bytes.Buffer, args ...string) string {
	b.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}
