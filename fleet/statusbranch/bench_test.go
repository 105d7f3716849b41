package statusbranch_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/fleet/statusbranch"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// BenchmarkConcurrentWriters has 200 clusters write their status and audit
// records at the same moment to one status branch served by the real git
// http-backend on loopback. Every iteration is one such round; afterwards
// every update must be on the branch. It reports the write latency (p50,
// p99: from Write's call to its return, retries included) and how often a
// push had to be rebuilt because another cluster moved the branch first.
func BenchmarkConcurrentWriters(b *testing.B) {
	const writers = 200
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	srv := serveBare(b)
	type member struct {
		name  string
		w     *statusbranch.Writer
		chain *chain
		last  v1.ClusterStatus
	}
	members := make([]*member, writers)
	for i := range members {
		name := fmt.Sprintf("edge-%03d", i)
		_, s := sshSigner(b, name)
		members[i] = &member{name: name, w: newWriter(b, srv.URL, name, s), chain: &chain{cluster: name}}
	}

	var latencies []time.Duration
	var mu sync.Mutex
	b.ResetTimer()
	for round := 0; round < b.N; round++ {
		start := make(chan struct{})
		errs := make(chan error, writers)
		var wg sync.WaitGroup
		for _, m := range members {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st := report(m.name, round, 3)
				<-start
				began := time.Now()
				err := m.w.Write(ctx, st, m.chain.next(2))
				took := time.Since(began)
				if err != nil {
					errs <- fmt.Errorf("%s: %w", m.name, err)
					return
				}
				m.last = st
				mu.Lock()
				latencies = append(latencies, took)
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(b, err)
		}
	}
	b.StopTimer()

	var retries, commits int64
	for _, m := range members {
		require.Equal(b, m.last, branchStatus(b, srv.Bare, m.name).ClusterStatus, m.name)
		require.Equal(b, hashes(m.chain.all), hashes(branchAudit(b, srv.Bare, m.name)), m.name)
		retries += m.w.Stats().Retries
		commits += m.w.Stats().Commits
	}
	require.Equal(b, int64(writers*b.N), commits, "every update is one commit on the branch")
	require.Equal(b, fmt.Sprint(writers*b.N), runGit(b, srv.Bare, "rev-list", "--count", branch))

	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))] }
	b.ReportMetric(float64(pct(0.50))/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(pct(0.99))/float64(time.Millisecond), "p99-ms")
	b.ReportMetric(float64(retries)/float64(len(latencies)), "retries/write")
	b.ReportMetric(float64(len(latencies)), "writes")
}
