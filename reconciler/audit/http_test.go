package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler/audit"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Endpoint behaviours.
const (
	up      = "up"      // 200 and keep the records
	down503 = "503"     // 503 Service Unavailable
	hangUp  = "hang up" // close the connection without an answer
	block   = "block"   // hold the request until the client gives up
)

// receiver is a test audit endpoint.
type receiver struct {
	t *testing.T

	mu        sync.Mutex
	mode      string
	upAfter   int64 // with mode up: go down (503) once a batch up to this seq was taken
	got       []v1.AuditRecord
	failed    int
	problems  []string
	requested chan struct{} // a request arrived
	release   chan struct{} // closed when the test ends
}

func newReceiver(t *testing.T, mode string) (*receiver, *httptest.Server) {
	rc := &receiver{t: t, mode: mode, requested: make(chan struct{}, 1), release: make(chan struct{})}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(rc.release) }) // runs before srv.Close
	return rc, srv
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		select {
		case rc.requested <- struct{}{}:
		default:
		}
	}()
	rc.mu.Lock()
	mode := rc.mode
	if mode != up {
		rc.failed++
	}
	rc.mu.Unlock()
	switch mode {
	case down503:
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
		return
	case hangUp:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	case block:
		// Read the body so that the server notices when the client hangs
		// up; the release channel ends the test's last request.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-rc.release:
		}
		return
	}
	records, err := audit.ParseJSONL("request", r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	switch {
	case err != nil:
		rc.problems = append(rc.problems, err.Error())
	case r.Method != http.MethodPost:
		rc.problems = append(rc.problems, "method "+r.Method)
	case r.Header.Get("Content-Type") != audit.ContentTypeJSONL:
		rc.problems = append(rc.problems, "content type "+r.Header.Get("Content-Type"))
	case len(records) == 0:
		rc.problems = append(rc.problems, "empty batch")
	case r.Header.Get(audit.HeaderFirstSeq) != strconv.FormatInt(records[0].Seq, 10),
		r.Header.Get(audit.HeaderLastSeq) != strconv.FormatInt(records[len(records)-1].Seq, 10):
		rc.problems = append(rc.problems, fmt.Sprintf("seq headers %s-%s for seqs %v",
			r.Header.Get(audit.HeaderFirstSeq), r.Header.Get(audit.HeaderLastSeq), seqs(records)))
	case r.Header.Get("Authorization") != "Bearer test":
		rc.problems = append(rc.problems, "no authorization header")
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.got = append(rc.got, records...)
	if rc.upAfter > 0 && records[len(records)-1].Seq >= rc.upAfter {
		rc.mode = down503
	}
	w.WriteHeader(http.StatusAccepted)
}

func (rc *receiver) setMode(mode string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.mode = mode
	rc.upAfter = 0
}

// waitFailures waits until the endpoint has refused at least n requests.
func (rc *receiver) waitFailures(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		rc.mu.Lock()
		failed := rc.failed
		rc.mu.Unlock()
		if failed >= n {
			return
		}
		select {
		case <-rc.requested:
		case <-deadline:
			t.Fatalf("endpoint saw %d failing requests, want %d", failed, n)
		}
	}
}

// received returns the seqs received so far and checks every request was
// well-formed.
func (rc *receiver) received(t *testing.T) []int64 {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	assert.Empty(t, rc.problems)
	return seqs(rc.got)
}

// openHTTP opens an HTTP sink with fast retries.
func openHTTP(t *testing.T, url, dir string, mod ...func(*audit.HTTPOptions)) *audit.HTTPSink {
	t.Helper()
	opts := audit.HTTPOptions{
		URL:            url,
		SpoolDir:       dir,
		Header:         http.Header{"Authorization": {"Bearer test"}},
		InitialBackoff: time.Millisecond,
		MaxBackoff:     5 * time.Millisecond,
		BatchSize:      3,
	}
	for _, m := range mod {
		m(&opts)
	}
	s, err := audit.OpenHTTP(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func flush(t *testing.T, s *audit.HTTPSink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Flush(ctx))
}

func TestHTTPSinkDeliversInOrder(t *testing.T) {
	rc, srv := newReceiver(t, up)
	s := openHTTP(t, srv.URL, t.TempDir())
	c := chain(10)
	for i := range c {
		require.NoError(t, s.Deliver(context.Background(), c[i:i+1]))
	}
	flush(t, s)
	assert.Equal(t, int64(10), s.Sent())
	assert.Equal(t, int64(10), s.Delivered())
	assert.NoError(t, s.LastError())
	assert.Equal(t, seqRange(1, 10), rc.received(t))
}

func TestHTTPSinkEndpointDown(t *testing.T) {
	for _, mode := range []string{down503, hangUp} {
		t.Run(mode, func(t *testing.T) {
			rc, srv := newReceiver(t, mode)
			s := openHTTP(t, srv.URL, t.TempDir())
			c := chain(12)
			require.NoError(t, s.Deliver(context.Background(), c[:5]))
			rc.waitFailures(t, 3)
			require.NoError(t, s.Deliver(context.Background(), c))
			assert.Equal(t, int64(12), s.Delivered(), "spooled while the endpoint is down")
			assert.Equal(t, int64(0), s.Sent())
			assert.Error(t, s.LastError())

			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			assert.ErrorIs(t, s.Flush(ctx), context.Canceled)

			rc.setMode(up)
			flush(t, s)
			assert.Equal(t, seqRange(1, 12), rc.received(t), "all records, once, in order")
			assert.NoError(t, s.LastError())
		})
	}
}

func TestHTTPSinkDeliverDoesNotWaitForEndpoint(t *testing.T) {
	_, srv := newReceiver(t, block)
	s := openHTTP(t, srv.URL, t.TempDir(), func(o *audit.HTTPOptions) { o.Client = &http.Client{} })
	c := chain(5)
	done := make(chan error)
	go func() {
		for i := range c {
			if err := s.Deliver(context.Background(), c[i:i+1]); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Deliver waited for a hanging endpoint")
	}
	assert.Equal(t, int64(5), s.Delivered())
	// Close abandons the hanging request.
	require.NoError(t, s.Close())
	assert.Equal(t, int64(0), s.Sent())
	assert.ErrorIs(t, s.Deliver(context.Background(), chain(6)), audit.ErrClosed)
	assert.ErrorIs(t, s.Flush(context.Background()), audit.ErrClosed)
}

func TestHTTPSinkReopenWhileDown(t *testing.T) {
	rc, srv := newReceiver(t, down503)
	dir := t.TempDir()
	c := chain(15)

	s1 := openHTTP(t, srv.URL, dir)
	require.NoError(t, s1.Deliver(context.Background(), c[:5]))
	rc.waitFailures(t, 1)
	require.NoError(t, s1.Close())

	s2 := openHTTP(t, srv.URL, dir)
	assert.Equal(t, int64(5), s2.Delivered(), "the spool survived")
	assert.Equal(t, int64(0), s2.Sent())
	require.NoError(t, s2.Deliver(context.Background(), c[:10]))
	rc.setMode(up)
	flush(t, s2)
	require.NoError(t, s2.Close())
	assert.Equal(t, seqRange(1, 10), rc.received(t))

	s3 := openHTTP(t, srv.URL, dir)
	assert.Equal(t, int64(10), s3.Sent(), "resumed from the cursor")
	assert.Equal(t, int64(10), s3.Delivered())
	require.NoError(t, s3.Deliver(context.Background(), c))
	flush(t, s3)
	assert.Equal(t, seqRange(1, 15), rc.received(t), "nothing sent twice, nothing skipped")
}

func TestHTTPSinkReopenAfterPartialDelivery(t *testing.T) {
	rc, srv := newReceiver(t, up)
	rc.upAfter = 4 // take batches 1-3 and 4-6, then fail
	dir := t.TempDir()
	c := chain(10)

	s1 := openHTTP(t, srv.URL, dir)
	require.NoError(t, s1.Deliver(context.Background(), c))
	rc.waitFailures(t, 2)
	assert.Equal(t, int64(6), s1.Sent())
	require.NoError(t, s1.Close())

	s2 := openHTTP(t, srv.URL, dir)
	assert.Equal(t, int64(6), s2.Sent())
	rc.setMode(up)
	flush(t, s2)
	assert.Equal(t, seqRange(1, 10), rc.received(t))
}

func TestHTTPSinkResendsAfterLostCursor(t *testing.T) {
	// A crash between the 2xx and the cursor write: the batch is sent
	// again, and a receiver that deduplicates by seq sees each record once.
	rc, srv := newReceiver(t, up)
	dir := t.TempDir()
	c := chain(6)
	s1 := openHTTP(t, srv.URL, dir)
	require.NoError(t, s1.Deliver(context.Background(), c))
	flush(t, s1)
	require.NoError(t, s1.Close())

	old, err := json.Marshal(map[string]any{"seq": 3, "hash": c[2].Hash})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cursor.json"), old, 0o600))

	s2 := openHTTP(t, srv.URL, dir)
	assert.Equal(t, int64(3), s2.Sent())
	flush(t, s2)
	got := rc.received(t)
	assert.Equal(t, append(seqRange(1, 6), 4, 5, 6), got)
	seen := map[int64]bool{}
	var deduped []int64
	for _, seq := range got {
		if !seen[seq] {
			seen[seq] = true
			deduped = append(deduped, seq)
		}
	}
	assert.Equal(t, seqRange(1, 6), deduped)
}

func TestHTTPSinkCompactsSpool(t *testing.T) {
	rc, srv := newReceiver(t, up)
	dir := t.TempDir()
	c := chain(8)
	compact := func(o *audit.HTTPOptions) { o.CompactBytes = 1 }

	s1 := openHTTP(t, srv.URL, dir, compact)
	require.NoError(t, s1.Deliver(context.Background(), c[:5]))
	flush(t, s1)
	require.NoError(t, s1.Close()) // waits for the sender, which compacts after the ack
	fi, err := os.Stat(filepath.Join(dir, "spool.jsonl"))
	require.NoError(t, err)
	assert.Zero(t, fi.Size(), "fully acknowledged spool emptied")

	s2 := openHTTP(t, srv.URL, dir, compact)
	assert.Equal(t, int64(5), s2.Delivered(), "learned from the cursor")
	assert.Equal(t, int64(5), s2.Sent())
	forked := chain(6)
	forked[5].Message = "forked"
	forked[5].Prev = "0000"
	forked[5].Hash = audit.Hash(forked[5])
	var broken *audit.BrokenLinkError
	require.ErrorAs(t, s2.Deliver(context.Background(), forked), &broken, "continuity is checked against the cursor")
	require.NoError(t, s2.Deliver(context.Background(), c))
	flush(t, s2)
	assert.Equal(t, seqRange(1, 8), rc.received(t))
}

func TestHTTPSinkRepairsTornSpool(t *testing.T) {
	rc, srv := newReceiver(t, down503)
	dir := t.TempDir()
	c := chain(4)
	s1 := openHTTP(t, srv.URL, dir)
	require.NoError(t, s1.Deliver(context.Background(), c[:2]))
	require.NoError(t, s1.Close())
	f, err := os.OpenFile(filepath.Join(dir, "spool.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(jsonl(t, c[2:3])[:25])
	require.NoError(t, err)
	require.NoError(t, f.Close())

	var mu sync.Mutex
	var logs []string
	logger := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		logs = append(logs, args)
	}, funcr.Options{})
	s2 := openHTTP(t, srv.URL, dir, func(o *audit.HTTPOptions) { o.Logger = logger })
	mu.Lock()
	assert.Contains(t, strings.Join(logs, "\n"), "cut off a torn last line of 25 bytes")
	mu.Unlock()
	assert.Equal(t, int64(2), s2.Delivered())
	require.NoError(t, s2.Deliver(context.Background(), c))
	rc.setMode(up)
	flush(t, s2)
	assert.Equal(t, seqRange(1, 4), rc.received(t))
}

func TestOpenHTTPRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts audit.HTTPOptions
	}{
		{"no URL", audit.HTTPOptions{SpoolDir: t.TempDir()}},
		{"relative URL", audit.HTTPOptions{URL: "/audit", SpoolDir: t.TempDir()}},
		{"other scheme", audit.HTTPOptions{URL: "ftp://example.invalid/a", SpoolDir: t.TempDir()}},
		{"no spool", audit.HTTPOptions{URL: "http://127.0.0.1:1/a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := audit.OpenHTTP(tt.opts)
			assert.Error(t, err)
		})
	}
}

func TestOpenHTTPRejectsDamagedCursor(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cursor.json"), []byte(`{"seq":"x"}`), 0o600))
	_, err := audit.OpenHTTP(audit.HTTPOptions{URL: "http://127.0.0.1:1/a", SpoolDir: dir})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "damaged")
}

// Both sinks satisfy Sink.
var (
	_ audit.Sink = (*audit.FileSink)(nil)
	_ audit.Sink = (*audit.HTTPSink)(nil)
)
