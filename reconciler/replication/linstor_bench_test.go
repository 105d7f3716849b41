package replication_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/linstoremu"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkUpgradeOnLINSTOR upgrades a group of n resources from 2 to 3
// replicas in batches of 100 through the golinstor backend against the
// LINSTOR emulator with instant sync. It reports the LINSTOR requests per
// resource (all, and mutations) and the CPU time per resource of this
// process, which runs the reconcile skeleton, the backend, golinstor and
// the emulator (the API server is a process of its own). The goal is a
// constant number of requests per resource whatever the group's size.
func BenchmarkUpgradeOnLINSTOR(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("resources=%d", n), func(b *testing.B) {
			var calls, mutations, autoplaces, views int
			var cpu, wall time.Duration
			for range b.N {
				b.StopTimer()
				h := newEmuHarness(b, n, linstoremu.WithInstantSync())
				s := spec()
				s.BatchSize = 100
				h.Apply(&v1.ReplicationUpgrade{Spec: s})
				b.StartTimer()
				c0, t0 := cpuTime(b), time.Now()
				op := h.Run()
				cpu += cpuTime(b) - c0
				wall += time.Since(t0)
				b.StopTimer()
				require.Equal(b, string(phase.Succeeded), op.Status.Phase, "%+v", op.Status.Conditions)
				for _, c := range h.emu.Calls() {
					calls++
					if c.Mutation {
						mutations++
					}
					if strings.HasSuffix(c.Path, "/autoplace") {
						autoplaces++
					}
					if c.Path == "/v1/view/resources" {
						views++
					}
				}
				b.StartTimer()
			}
			per := float64(b.N * n)
			b.ReportMetric(float64(calls)/per, "requests/resource")
			b.ReportMetric(float64(mutations)/per, "mutations/resource")
			b.ReportMetric(float64(autoplaces)/per, "autoplaces/resource")
			b.ReportMetric(float64(views)/float64(b.N), "views/run")
			b.ReportMetric(float64(cpu.Microseconds())/per, "cpu-µs/resource")
			b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "ms/run")
		})
	}
}
