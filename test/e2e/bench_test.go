package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/nodewright/nodewright/internal/sandbox/cluster"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/envtest"
	"github.com/nodewright/nodewright/test/fleet"
	"github.com/nodewright/nodewright/test/stack"
)

// BenchmarkCommitToResource measures, on the test control plane, the time
// from a new signed commit being available (pushed, and the FleetSource
// asked to fetch, so the poll interval is excluded) to its admitted
// operation existing as a custom resource: fetch over smart HTTP,
// verification, render, gates and server-side apply. It reports the
// median of 15 commits.
func BenchmarkCommitToResource(b *testing.B) {
	ctx := context.Background()
	s := newBenchStack(b, fleet.Options{AnyTime: true}, nil)
	_, err := s.StartReconciler(nil)
	require.NoError(b, err)
	for b.Loop() {
		var samples []time.Duration
		for i := range 15 {
			name := fmt.Sprintf("flip-%d-%d", b.N, i)
			path := "sites/edge-001/operations/" + name + ".yaml"
			s.Fleet.Work.Write(path, benchFlip(name, []string{"node-a"}))
			s.Fleet.Work.Commit("Plan "+name, s.Fleet.Bob)
			s.Fleet.Push()
			start := time.Now()
			require.NoError(b, s.Kick(ctx))
			plan := &v1.BondModeFlipPlan{}
			for {
				err := s.Operation(ctx, plan, name)
				if err == nil {
					break
				}
				require.True(b, apierrors.IsNotFound(err), "%v", err)
				require.Less(b, time.Since(start), 30*time.Second, "%s never appeared", name)
				time.Sleep(2 * time.Millisecond) // polling the API server for the result, not synchronising
			}
			samples = append(samples, time.Since(start))
		}
		slices.Sort(samples)
		b.ReportMetric(float64(samples[len(samples)/2].Milliseconds()), "ms-median")
		b.ReportMetric(float64(samples[len(samples)-1].Milliseconds()), "ms-max")
		b.Logf("commit → custom resource over %d commits: median %s, max %s (target: median under 1s)", len(samples), samples[len(samples)/2], samples[len(samples)-1])
	}
}

// BenchmarkManagerMemory runs `nodewright reconciler` as its own process
// against the test control plane with 100 bond flips in flight across 50
// simulated nodes (one runs, the others wait at their step gates, all
// reconciled every poll), and reports the process's peak RSS (VmHWM).
func BenchmarkManagerMemory(b *testing.B) {
	ctx := context.Background()
	nodes := make([]string, 50)
	for i := range nodes {
		nodes[i] = fmt.Sprintf("node-%03d", i)
	}
	files := map[string]string{}
	for i := range 100 {
		name := fmt.Sprintf("flip-%03d", i)
		files["sites/edge-001/operations/"+name+".yaml"] = benchFlip(name, []string{nodes[(2*i)%50], nodes[(2*i+1)%50]})
	}
	fo := fleet.Options{AnyTime: true, Files: files, Edit: func(path, content string) string {
		if path == "bases/edge-profile/profile.yaml" {
			return benchProfile(nodes)
		}
		return content
	}}
	s := newBenchStack(b, fo, func(o *stack.Options) { o.Nodes, o.Heartbeat = nodes, 5*time.Second })
	var paths []string
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	s.Fleet.Work.Approve(s.Fleet.Alice, paths...)
	s.Fleet.Work.Approve(s.Fleet.Carol, paths...)
	s.Fleet.Push()

	bin := filepath.Join(b.TempDir(), "nodewright")
	build := exec.Command("go", "build", "-o", bin, "./cmd/nodewright")
	build.Dir = envtest.ModuleRoot()
	out, err := build.CombinedOutput()
	require.NoError(b, err, "%s", out)
	kubeconfig := filepath.Join(b.TempDir(), "kubeconfig")
	require.NoError(b, apiServer(b).WriteKubeconfig(kubeconfig))

	for b.Loop() {
		cmd := exec.Command(bin, "reconciler", "--kubeconfig", kubeconfig, "--cluster-name", s.Name, "--site", fleet.Site,
			"--namespace", s.Namespace, "--state-dir", b.TempDir(), "--leader-elect=false",
			"--metrics-bind-address", "0", "--health-probe-bind-address", "0")
		cmd.Stderr = nil
		require.NoError(b, cmd.Start())
		inFlight := 0
		deadline := time.Now().Add(3 * time.Minute)
		for inFlight < 100 && time.Now().Before(deadline) {
			l := &v1.BondModeFlipPlanList{}
			require.NoError(b, s.Client.List(ctx, l))
			inFlight = 0
			for _, p := range l.Items {
				if p.Namespace == s.Namespace && p.Status.Phase != "" && p.Status.Phase != "Pending" && p.Status.Phase != "AwaitingApproval" {
					inFlight++
				}
			}
			time.Sleep(200 * time.Millisecond) // polling the API server for progress
		}
		require.Equal(b, 100, inFlight, "operations past their approval")
		// Let every operation be reconciled a few more times at its poll.
		time.Sleep(10 * time.Second) // a measuring window, not synchronisation
		hwm := vmHWM(b, cmd.Process.Pid)
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		b.ReportMetric(hwm, "MB-peak-RSS")
		b.Logf("manager with %d operations in flight across %d nodes: peak RSS %.1f MB (target: under 150 MB)", inFlight, len(nodes), hwm)
	}
}

func vmHWM(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(b, err)
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			require.NoError(b, err)
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM")
	return 0
}

func newBenchStack(b *testing.B, fo fleet.Options, change func(*stack.Options)) *stack.Stack {
	n := seq.Add(1)
	f := fleet.New(b, fo)
	o := stack.Options{Options: cluster.Options{Namespace: fmt.Sprintf("b%d", n), Name: fmt.Sprintf("bench-%d", n)}, Fleet: f}
	if change != nil {
		change(&o)
	}
	s, err := stack.New(b, apiServer(b).Config, o)
	require.NoError(b, err)
	return s
}

func benchFlip(name string, nodes []string) string {
	return fmt.Sprintf(`apiVersion: nodewright.io/v1alpha1
kind: BondModeFlipPlan
metadata:
  name: %s
spec:
  bond: bond0
  fromMode: active-backup
  toMode: 802.3ad
  nodes: [%s]
  vmProtection: None
`, name, strings.Join(nodes, ", "))
}

func benchProfile(nodes []string) string {
	var b strings.Builder
	b.WriteString("apiVersion: nodewright.io/v1alpha1\nkind: EdgeProfile\nmetadata:\n  name: profile\nspec:\n  site: base\n  clusterName: base\n  nodes:\n")
	for _, n := range nodes {
		fmt.Fprintf(&b, "    - name: %s\n      bonds:\n        - {name: bond0, mode: active-backup, slaves: [eth0, eth1]}\n      storagePools: [nvme]\n", n)
	}
	b.WriteString(`  resourceGroups:
    - {name: vm-disks, storagePool: nvme, placeCount: 2}
    - {name: vm-disks-r3, storagePool: nvme, placeCount: 3}
  storageClasses:
    - {name: linstor-r2, resourceGroup: vm-disks}
    - {name: linstor-r3, resourceGroup: vm-disks-r3}
  maintenanceWindows:
    - {days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun], start: "00:00", duration: 24h, timeZone: UTC}
`)
	return b.String()
}
