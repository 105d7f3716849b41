package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/go-logr/logr"

	"github.com/nodewright/nodewright/internal/atomicfile"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// The HTTP sink's request format. Receivers must deduplicate by seq: a
// batch is sent again after a restart if the process died between the 2xx
// and the cursor write.
const (
	// ContentTypeJSONL is the Content-Type of a batch: one AuditRecord per
	// line, each line ending in '\n'.
	ContentTypeJSONL = "application/x-ndjson"
	// HeaderFirstSeq carries the seq of a batch's first record.
	HeaderFirstSeq = "Nodewright-Audit-First-Seq"
	// HeaderLastSeq carries the seq of a batch's last record.
	HeaderLastSeq = "Nodewright-Audit-Last-Seq"
)

// File names inside HTTPOptions.SpoolDir.
const (
	spoolFile  = "spool.jsonl"
	cursorFile = "cursor.json"
)

// Defaults for HTTPOptions fields left zero.
const (
	// DefaultBatchSize is the most records per POST.
	DefaultBatchSize = 100
	// DefaultMaxBatchBytes is the largest POST body, unless one record is
	// larger.
	DefaultMaxBatchBytes = 1 << 20
	// DefaultInitialBackoff is the first wait after a failed POST.
	DefaultInitialBackoff = time.Second
	// DefaultMaxBackoff is the longest wait between retries.
	DefaultMaxBackoff = time.Minute
	// DefaultCompactBytes is the spool size at which a fully acknowledged
	// spool is emptied.
	DefaultCompactBytes = 1 << 20
	// DefaultRequestTimeout is the timeout of the default HTTP client.
	DefaultRequestTimeout = 30 * time.Second
)

// HTTPOptions configure an HTTPSink.
type HTTPOptions struct {
	// URL is the endpoint batches are POSTed to (http or https).
	URL string
	// SpoolDir holds the spool (spool.jsonl) and the cursor (cursor.json).
	// It must be on durable storage and used by one sink at a time; a new
	// sink on the same directory resumes where the last one stopped.
	SpoolDir string
	// Client sends the requests; nil means a client with a
	// DefaultRequestTimeout timeout.
	Client *http.Client
	// Header is added to every request, e.g. for authorization.
	Header http.Header
	// InitialBackoff is the first wait after a failed POST
	// (DefaultInitialBackoff if zero); each further failure multiplies it
	// by BackoffMultiplier (1.5 if zero), up to MaxBackoff
	// (DefaultMaxBackoff if zero), with ±50% jitter. Retries never give up
	// while the sink is open; a Retry-After on 429 or 503 is honoured up to
	// MaxBackoff.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait between retries.
	MaxBackoff time.Duration
	// BackoffMultiplier is the growth factor between waits.
	BackoffMultiplier float64
	// BatchSize is the most records per POST (DefaultBatchSize if zero).
	BatchSize int
	// MaxBatchBytes caps a POST body (DefaultMaxBatchBytes if zero); a
	// single larger record is still sent alone.
	MaxBatchBytes int
	// CompactBytes is the spool size at which a fully acknowledged spool is
	// emptied (DefaultCompactBytes if zero; negative: never).
	CompactBytes int64
	// Logger receives delivery failures and spool repairs; the zero Logger
	// discards them.
	Logger logr.Logger
}

// HTTPSink ships audit records to an HTTP endpoint without ever blocking
// the reconciler on it. Deliver appends to an on-disk spool and returns; a
// sender goroutine, started by OpenHTTP and stopped by Close, POSTs the
// spooled records in seq order, retrying with exponential backoff, and
// advances an on-disk cursor after each 2xx. After a restart it resumes
// from the cursor, so no record is lost or skipped. It is safe for
// concurrent use.
type HTTPSink struct {
	opts       HTTPOptions
	log        logr.Logger
	spool      *FileSink
	cursorPath string

	wake   chan struct{} // a record was spooled
	cancel context.CancelFunc
	done   chan struct{} // closed when the sender has stopped
	once   sync.Once

	mu      sync.Mutex
	sent    int64
	lastErr error
	acked   chan struct{} // closed and replaced on every acknowledgement
}

// cursor is the content of cursor.json: the last acknowledged record.
type cursor struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// OpenHTTP opens (or resumes) the spool in opts.SpoolDir and starts the
// sender. A torn last spool line is cut off and logged.
func OpenHTTP(opts HTTPOptions) (*HTTPSink, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("audit: HTTP sink URL %q must be an absolute http or https URL", opts.URL)
	}
	if opts.SpoolDir == "" {
		return nil, errors.New("audit: HTTP sink needs a spool directory")
	}
	opts = withDefaults(opts)
	if err := os.MkdirAll(opts.SpoolDir, 0o750); err != nil {
		return nil, fmt.Errorf("audit: spool: %w", err)
	}
	h := &HTTPSink{
		opts:       opts,
		log:        opts.Logger.WithValues("sink", "http", "url", opts.URL),
		cursorPath: filepath.Join(opts.SpoolDir, cursorFile),
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		acked:      make(chan struct{}),
	}
	removeStaleTemps(opts.SpoolDir)
	cur, err := readCursor(h.cursorPath)
	if err != nil {
		return nil, err
	}
	spool, err := OpenFile(filepath.Join(opts.SpoolDir, spoolFile))
	if err != nil {
		return nil, err
	}
	if t := spool.Repaired(); t != nil {
		h.log.Info("audit spool repaired after a crash; the pump delivers the lost records again", "repair", t.String())
	}
	off, err := resumeOffset(spool, cur)
	if err != nil {
		_ = spool.Close()
		return nil, err
	}
	h.spool, h.sent = spool, cur.Seq
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go h.run(ctx, off)
	return h, nil
}

func withDefaults(o HTTPOptions) HTTPOptions {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: DefaultRequestTimeout}
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = DefaultInitialBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.InitialBackoff)
	if o.BackoffMultiplier < 1 {
		o.BackoffMultiplier = backoff.DefaultMultiplier
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if o.CompactBytes == 0 {
		o.CompactBytes = DefaultCompactBytes
	}
	return o
}

// resumeOffset finds where in the spool the first record after the cursor
// starts, checking that the spool continues the cursor without a gap.
func resumeOffset(spool *FileSink, cur cursor) (int64, error) {
	f, size, err := spool.committed()
	if err != nil {
		return 0, err
	}
	if size == 0 {
		spool.continueFrom(cur.Seq, cur.Hash)
		return 0, nil
	}
	if last := spool.Delivered(); cur.Seq > last {
		return 0, fmt.Errorf("audit: %s: cursor (seq %d) is ahead of the spool (seq %d)", spool.Path(), cur.Seq, last)
	}
	br := bufio.NewReader(io.NewSectionReader(f, 0, size))
	var off int64
	for line := 1; off < size; line++ {
		b, _, err := readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, &ParseError{File: spool.Path(), Line: line, Err: err}
		}
		rec, err := decodeRecord(b)
		if err != nil {
			return 0, &ParseError{File: spool.Path(), Line: line, Err: err}
		}
		if rec.Seq > cur.Seq {
			if cur.Seq > 0 && (rec.Seq != cur.Seq+1 || rec.Prev != cur.Hash) {
				return 0, fmt.Errorf("audit: %s:%d: seq %d does not continue the acknowledged seq %d", spool.Path(), line, rec.Seq, cur.Seq)
			}
			return off, nil
		}
		off += int64(len(b)) + 1
	}
	return off, nil
}

// Deliver appends the records above Delivered() to the spool (fsynced) and
// wakes the sender; it never waits for the endpoint. The records must
// continue the spooled chain, as for FileSink.Deliver.
func (h *HTTPSink) Deliver(ctx context.Context, records []v1.AuditRecord) error {
	if err := h.spool.Deliver(ctx, records); err != nil {
		return err
	}
	select {
	case h.wake <- struct{}{}:
	default:
	}
	return nil
}

// Delivered returns the highest seq spooled durably, 0 for none.
func (h *HTTPSink) Delivered() int64 { return h.spool.Delivered() }

// Sent returns the highest seq the endpoint has acknowledged with a 2xx.
func (h *HTTPSink) Sent() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sent
}

// LastError returns the error of the latest failed delivery attempt, or
// nil once a later attempt succeeded; for status reporting.
func (h *HTTPSink) LastError() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastErr
}

// Flush waits until every record spooled when it was called has been
// acknowledged. It returns ctx's error (with the last delivery error) if
// ctx ends first, and ErrClosed if the sink is closed.
func (h *HTTPSink) Flush(ctx context.Context) error {
	target := h.Delivered()
	for {
		h.mu.Lock()
		sent, acked, lastErr := h.sent, h.acked, h.lastErr
		h.mu.Unlock()
		if sent >= target {
			return nil
		}
		select {
		case <-acked:
		case <-h.done:
			return ErrClosed
		case <-ctx.Done():
			if lastErr == nil {
				return fmt.Errorf("audit: flush: %d of %d acknowledged: %w", sent, target, ctx.Err())
			}
			return fmt.Errorf("audit: flush: %d of %d acknowledged (last error: %w): %w", sent, target, lastErr, ctx.Err())
		}
	}
}

// Close stops the sender, abandoning a request in flight (its records are
// sent again by the next sink on the spool), and closes the spool.
func (h *HTTPSink) Close() error {
	var err error
	h.once.Do(func() {
		h.cancel()
		<-h.done
		err = h.spool.Close()
	})
	return err
}

// batch is a run of spooled lines sent in one POST.
type batch struct {
	body        []byte
	first, last v1.AuditRecord
}

// run is the sender: it POSTs the records after off, one batch at a time.
func (h *HTTPSink) run(ctx context.Context, off int64) {
	defer close(h.done)
	for {
		var b batch
		_, err := backoff.Retry(ctx, func() (struct{}, error) {
			var err error
			if b, err = h.nextBatch(off); err != nil || len(b.body) == 0 {
				return struct{}{}, err
			}
			return struct{}{}, h.post(ctx, b)
		},
			backoff.WithBackOff(&backoff.ExponentialBackOff{
				InitialInterval:     h.opts.InitialBackoff,
				RandomizationFactor: backoff.DefaultRandomizationFactor,
				Multiplier:          h.opts.BackoffMultiplier,
				MaxInterval:         h.opts.MaxBackoff,
			}),
			backoff.WithMaxElapsedTime(0),
			backoff.WithNotify(func(err error, next time.Duration) {
				h.setErr(err)
				h.log.Error(err, "audit delivery failed; retrying", "firstSeq", b.first.Seq, "lastSeq", b.last.Seq, "retryIn", next.String())
			}),
		)
		if ctx.Err() != nil {
			return
		}
		if err != nil || len(b.body) == 0 {
			select {
			case <-h.wake:
			case <-ctx.Done():
				return
			}
			continue
		}
		off = h.ack(b, off+int64(len(b.body)))
	}
}

// nextBatch reads the complete spooled lines after off, up to the batch
// limits.
func (h *HTTPSink) nextBatch(off int64) (batch, error) {
	f, size, err := h.spool.committed()
	if err != nil || off >= size {
		return batch{}, err
	}
	br := bufio.NewReader(io.NewSectionReader(f, off, size-off))
	var b batch
	for n := 0; n < h.opts.BatchSize; n++ {
		line, terminated, err := readLine(br)
		if errors.Is(err, io.EOF) && len(line) == 0 {
			break
		}
		if err != nil || !terminated {
			return batch{}, fmt.Errorf("audit: read spool %s at offset %d: %w", h.spool.Path(), off, err)
		}
		if n > 0 && len(b.body)+len(line)+1 > h.opts.MaxBatchBytes {
			break
		}
		rec, err := decodeRecord(line)
		if err != nil {
			return batch{}, fmt.Errorf("audit: spool %s at offset %d: %w", h.spool.Path(), off+int64(len(b.body)), err)
		}
		if n == 0 {
			b.first = rec
		}
		b.last = rec
		b.body = append(append(b.body, line...), '\n')
	}
	return b, nil
}

// post sends one batch; any answer but a 2xx is an error to retry.
func (h *HTTPSink) post(ctx context.Context, b batch) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.opts.URL, bytes.NewReader(b.body))
	if err != nil {
		return backoff.Permanent(err)
	}
	for k, vs := range h.opts.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Content-Type", ContentTypeJSONL)
	req.Header.Set(HeaderFirstSeq, strconv.FormatInt(b.first.Seq, 10))
	req.Header.Set(HeaderLastSeq, strconv.FormatInt(b.last.Seq, 10))
	resp, err := h.opts.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("audit: POST %s (seq %d-%d): %s: %s", h.opts.URL, b.first.Seq, b.last.Seq, resp.Status, strings.TrimSpace(string(snippet)))
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs > 0 {
			secs = min(secs, int(h.opts.MaxBackoff/time.Second))
			if secs > 0 {
				err = errors.Join(err, backoff.RetryAfter(secs))
			}
		}
	}
	return err
}

// ack records that b was acknowledged: it writes the cursor, wakes
// Flush and empties the spool when all of it is acknowledged and it has
// grown past CompactBytes. It returns the new read offset.
func (h *HTTPSink) ack(b batch, off int64) int64 {
	cerr := writeCursor(h.cursorPath, cursor{Seq: b.last.Seq, Hash: b.last.Hash})
	if cerr != nil {
		// The endpoint has the records; after a restart they are sent again.
		h.log.Error(cerr, "audit cursor not saved", "seq", b.last.Seq)
	}
	h.mu.Lock()
	h.sent = b.last.Seq
	h.lastErr = cerr
	close(h.acked)
	h.acked = make(chan struct{})
	h.mu.Unlock()
	if cerr == nil && h.opts.CompactBytes > 0 && off >= h.opts.CompactBytes {
		emptied, err := h.spool.truncateIfSize(off)
		if err != nil {
			h.log.Error(err, "audit spool not compacted")
		}
		if emptied {
			return 0
		}
	}
	return off
}

func (h *HTTPSink) setErr(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastErr = err
}

// readCursor reads cursor.json; a missing file is the zero cursor.
func readCursor(path string) (cursor, error) {
	var c cursor
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("audit: cursor: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("audit: cursor %s is damaged (%w); remove it to resend the whole spool", path, err)
	}
	if c.Seq < 0 || (c.Seq > 0 && c.Hash == "") {
		return c, fmt.Errorf("audit: cursor %s is damaged (seq %d, hash %q); remove it to resend the whole spool", path, c.Seq, c.Hash)
	}
	return c, nil
}

// writeCursor replaces cursor.json atomically with atomicfile: temp file,
// fsync, rename, fsync of the directory.
func writeCursor(path string, c cursor) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("audit: write cursor: %w", err)
	}
	return nil
}

// removeStaleTemps deletes cursor temp files a crash left behind, also
// those named as releases before atomicfile named them.
func removeStaleTemps(dir string) {
	_ = atomicfile.RemoveTemps(filepath.Join(dir, cursorFile))
	matches, _ := filepath.Glob(filepath.Join(dir, "."+cursorFile+".*.tmp"))
	for _, m := range matches {
		_ = os.Remove(m)
	}
}
