package statusbranch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/nodewright/nodewright/reconciler/audit"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// DefaultBranch is the status branch when Writer.Branch is empty.
const DefaultBranch = "nodewright/status"

// maxBatch bounds how many queued updates go into one push.
const maxBatch = 64

// transientTries bounds the consecutive tries of one push that fail in
// transit (connection refused or reset, timeouts, 5xx) before the update
// is left queued.
const transientTries = 3

// ErrUnreachable marks errors of a remote that could not be talked to:
// connection refused or reset, timeouts, 5xx answers. Updates stay queued.
var ErrUnreachable = errors.New("remote unreachable")

// ErrContention marks a push that lost the race for the branch tip more
// often than Retry.Attempts allows. Updates stay queued.
var ErrContention = errors.New("the branch kept moving: too many concurrent writers")

// QueuedError is the error of a Write or Flush that could not bring every
// update to the branch: the updates are stored in the queue directory and
// go out, in order, with the next Write or Flush (also after a restart).
// Err says why they could not be sent now; errors.Is(err, ErrUnreachable)
// tells an unreachable remote from a refusal.
type QueuedError struct {
	// Seq is the queue sequence number of the oldest update still queued.
	Seq uint64
	// Pending is how many updates are queued.
	Pending int
	// Err is why they were not sent.
	Err error
}

// Error says that the update is queued and why.
func (e *QueuedError) Error() string {
	return fmt.Sprintf("status update queued (%d pending, oldest seq %d): %v", e.Pending, e.Seq, e.Err)
}

// Unwrap returns why the updates were not sent.
func (e *QueuedError) Unwrap() error { return e.Err }

// Retry bounds the retries of a push that lost the race against another
// cluster. The zero value takes the defaults.
//
// After the n-th lost race the writer waits a time drawn uniformly between
// zero and min(Max, base*2^(n-1)) ("full jitter"), where base is the
// larger of Initial and the shortest attempt the writer has made (one
// push's duration without the queueing contention adds): the backoff is
// measured in attempts, so racing writers spread out as far as the server
// needs, whether a push takes 5 ms or 500 ms.
type Retry struct {
	// Attempts is how many times one push may be rebuilt on a moved tip
	// before Write gives up and leaves the update queued (default 40).
	Attempts int
	// Initial is the least backoff base (default 10ms).
	Initial time.Duration
	// Max caps the backoff (default 2m). It must exceed the number of
	// clusters that may write at once times the duration of one push, or
	// racing writers keep the server busy with pushes that lose.
	Max time.Duration
	// Timeout bounds one attempt: list refs, fetch, push (default 2m).
	// An attempt that runs out counts as the remote being unreachable.
	Timeout time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 40
	}
	if r.Initial <= 0 {
		r.Initial = 10 * time.Millisecond
	}
	if r.Max <= 0 {
		r.Max = 2 * time.Minute
	}
	if r.Max < r.Initial {
		r.Max = r.Initial
	}
	if r.Timeout <= 0 {
		r.Timeout = 2 * time.Minute
	}
	return r
}

// Stats counts what a Writer did since it was made.
type Stats struct {
	// Writes is how many updates Write accepted.
	Writes int64
	// Commits is how many commits reached the branch.
	Commits int64
	// Pushes is how many pushes the remote accepted.
	Pushes int64
	// Unchanged is how many updates changed nothing and made no commit.
	Unchanged int64
	// Retries is how many attempts lost the race: another cluster moved
	// the branch first, seen when the push was refused or, after a lost
	// race, in the look at the tip just before pushing.
	Retries int64
	// Fetches is how many times new objects were fetched.
	Fetches int64
}

// Writer publishes one cluster's status and audit records to the status
// branch. Set its fields, then call Write; a Writer is safe for concurrent
// use (calls are serialised) and must not be copied after first use. Close
// releases its queue directory. Exactly one Writer may use a queue
// directory at a time; a later one (after a restart) resumes its queue.
type Writer struct {
	// URL is the repository holding the status branch: http(s)://, ssh://,
	// file://, an scp-like address or a local path.
	URL string
	// Branch is the status branch, DefaultBranch when empty.
	Branch string
	// Cluster is the cluster's name; its commits change only
	// clusters/<Cluster>/. It must be a plain name (letters, digits, '.',
	// '_', '-', at most 128 bytes, starting with a letter or digit).
	Cluster string
	// Signer signs every commit with the cluster's key.
	Signer Signer
	// Auth authenticates to the remote; nil uses what the URL carries.
	Auth transport.AuthMethod
	// CABundle holds PEM certificate authorities to trust for an https
	// remote, besides the system's.
	CABundle []byte
	// QueueDir is the directory updates wait in until the branch holds
	// them. Required.
	QueueDir string
	// Budget is the size status.yaml may reach before it is cut to a
	// summary; DefaultBudget when zero.
	Budget int
	// Retry bounds retries against concurrent writers.
	Retry Retry
	// Now returns the time for commit dates and signatures; time.Now when
	// nil.
	Now func() time.Time
	// Rand draws the backoff jitter; a shared source when nil.
	Rand *rand.Rand

	mu    sync.Mutex
	q     *queue
	rem   *remote
	cache store
	tip   plumbing.Hash // the commit cache holds the head of
	// fastest is the shortest attempt that reached the server: the
	// backoff unit, an estimate of one push's duration free of the
	// queueing that contention adds.
	fastest time.Duration

	stats struct {
		writes, commits, pushes, unchanged, retries, fetches atomic.Int64
	}
}

var clusterName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// open checks the configuration and opens the queue on first use.
func (w *Writer) open() error {
	if w.q != nil {
		return nil
	}
	if !clusterName.MatchString(w.Cluster) {
		return fmt.Errorf("status writer: cluster name %q is not a plain name (letters, digits, '.', '_', '-')", w.Cluster)
	}
	if err := w.branch().Validate(); err != nil {
		return fmt.Errorf("status writer: branch %q is not a valid branch name", w.Branch)
	}
	if w.Signer == nil {
		return errors.New("status writer: no signer: commits to the status branch must be signed with the cluster's key")
	}
	if w.QueueDir == "" {
		return errors.New("status writer: no queue directory")
	}
	rem, err := newRemote(w.URL, w.Auth, w.CABundle)
	if err != nil {
		return err
	}
	q, err := openQueue(w.QueueDir)
	if err != nil {
		return fmt.Errorf("status writer: %w", err)
	}
	w.q, w.rem, w.cache = q, rem, newStore()
	return nil
}

func (w *Writer) branch() plumbing.ReferenceName {
	if w.Branch == "" {
		return plumbing.NewBranchReferenceName(DefaultBranch)
	}
	return plumbing.NewBranchReferenceName(w.Branch)
}

func (w *Writer) now() time.Time {
	if w.Now != nil {
		return w.Now().UTC().Truncate(time.Second)
	}
	return time.Now().UTC().Truncate(time.Second)
}

// Write publishes status as clusters/<cluster>/status.yaml and appends the
// records whose seq is above what the branch's audit.jsonl holds, in one
// signed commit on top of the branch tip (no commit when nothing changes).
// Updates queued earlier go out first, in order.
//
// status.Cluster must be empty or the Writer's cluster. Records must be
// this cluster's, form an unbroken chain (audit.Verify) and continue the
// chain on the branch; records the branch already holds are skipped, so
// sending a window of recent records again is harmless.
//
// The update is stored in the queue directory before anything is sent. If
// it cannot reach the branch now (remote unreachable, lost races beyond
// Retry.Attempts, a refusal) Write returns a *QueuedError: the update is
// kept and sent by the next Write or Flush, also by a new Writer on the
// same directory after a restart. Any other error means the update was
// refused and not stored.
func (w *Writer) Write(ctx context.Context, status v1.ClusterStatus, records []v1.AuditRecord) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.open(); err != nil {
		return err
	}
	if status.Cluster == "" {
		status.Cluster = w.Cluster
	}
	if status.Cluster != w.Cluster {
		return fmt.Errorf("status writer %s: status is for cluster %q", w.Cluster, status.Cluster)
	}
	if _, _, err := EncodeStatus(status, w.Budget); err != nil {
		return fmt.Errorf("status writer %s: %w", w.Cluster, err)
	}
	for _, r := range records {
		if r.Cluster != w.Cluster {
			return fmt.Errorf("status writer %s: audit record seq %d is for cluster %q", w.Cluster, r.Seq, r.Cluster)
		}
	}
	if err := audit.Verify(records); err != nil {
		return fmt.Errorf("status writer %s: audit records: %w", w.Cluster, err)
	}
	if _, err := encodeRecords(records); err != nil {
		return fmt.Errorf("status writer %s: audit records: %w", w.Cluster, err)
	}
	if _, err := w.q.add(update{Queued: w.now(), Status: status, Records: records}); err != nil {
		return fmt.Errorf("status writer %s: %w", w.Cluster, err)
	}
	w.stats.writes.Add(1)
	return w.flush(ctx)
}

// Flush sends every queued update to the branch, oldest first. It returns
// nil when the queue is empty afterwards, else a *QueuedError.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.open(); err != nil {
		return err
	}
	return w.flush(ctx)
}

// Pending returns how many updates wait in the queue.
func (w *Writer) Pending() (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.open(); err != nil {
		return 0, err
	}
	return len(w.q.pending), nil
}

// Stats returns the Writer's counters.
func (w *Writer) Stats() Stats {
	return Stats{
		Writes:    w.stats.writes.Load(),
		Commits:   w.stats.commits.Load(),
		Pushes:    w.stats.pushes.Load(),
		Unchanged: w.stats.unchanged.Load(),
		Retries:   w.stats.retries.Load(),
		Fetches:   w.stats.fetches.Load(),
	}
}

// Close releases the queue directory. Queued updates stay on disk for the
// next Writer; a later call on w opens the directory again.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.q == nil {
		return nil
	}
	err := w.q.close()
	w.q, w.rem, w.cache, w.tip = nil, nil, store{}, plumbing.ZeroHash
	return err
}

// flush sends queued updates in batches until the queue is empty.
func (w *Writer) flush(ctx context.Context) error {
	for len(w.q.pending) > 0 {
		n := min(len(w.q.pending), maxBatch)
		batch := make([]update, 0, n)
		for _, seq := range w.q.pending[:n] {
			u, err := w.q.get(seq)
			if err != nil {
				return w.queued(err)
			}
			batch = append(batch, u)
		}
		if err := w.publish(ctx, batch); err != nil {
			return w.queued(err)
		}
		if err := w.q.done(batch[len(batch)-1].Seq); err != nil {
			return w.queued(err)
		}
	}
	return nil
}

func (w *Writer) queued(err error) error {
	if len(w.q.pending) == 0 {
		return err
	}
	return &QueuedError{Seq: w.q.pending[0], Pending: len(w.q.pending), Err: err}
}

// publish brings batch to the branch, rebuilding it on the new tip and
// retrying with backoff while other clusters win the race.
func (w *Writer) publish(ctx context.Context, batch []update) error {
	retry := w.Retry.withDefaults()
	raced, transient := 0, 0
	for {
		start := time.Now()
		pushed, err := w.attempt(ctx, retry.Timeout, batch, raced > 0)
		took := time.Since(start)
		var rej *rejectedError
		lost := errors.As(err, &rej) && rej.raced()
		if (pushed || lost) && (w.fastest == 0 || took < w.fastest) {
			w.fastest = took
		}
		if err == nil {
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		switch {
		case lost:
			w.stats.retries.Add(1)
			raced++
			transient = 0 // the server answered
			if raced >= retry.Attempts {
				return fmt.Errorf("%w (%d attempts): %w", ErrContention, raced, err)
			}
		case errors.Is(err, ErrUnreachable):
			transient++
			if transient >= transientTries {
				return err
			}
		default:
			return err
		}
		if err := w.sleep(ctx, backoff(retry, max(retry.Initial, w.fastest), raced+transient)); err != nil {
			return err
		}
	}
}

// backoff returns the cap of the n-th wait: min(r.Max, base*2^(n-1)).
func backoff(r Retry, base time.Duration, n int) time.Duration {
	limit := base
	for i := 1; i < n && limit < r.Max; i++ {
		limit *= 2
	}
	return min(limit, r.Max)
}

// sleep waits a random time between zero and limit.
func (w *Writer) sleep(ctx context.Context, limit time.Duration) error {
	var f float64
	if w.Rand != nil {
		f = w.Rand.Float64()
	} else {
		f = rand.Float64()
	}
	t := time.NewTimer(time.Duration(f * float64(limit)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// attempt makes one try: read the tip, fetch what is new, build the
// batch's commits on it and push them.
//
// When careful (after a lost race) and the tip had moved, the tip is read
// once more before pushing, so that a push is made only when it has a
// chance: under contention a lost check costs the server far less than a
// lost push.
func (w *Writer) attempt(ctx context.Context, timeout time.Duration, batch []update, careful bool) (pushed bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	branch := w.branch()
	t, err := w.rem.advertise(ctx, branch)
	if err != nil {
		return false, err
	}
	defer func() { _ = t.sess.Close() }()

	base := plumbing.ZeroHash
	if t.exists {
		base = t.hash
	}
	fetched := base != w.tip && !base.IsZero()
	h, err := w.headAt(ctx, base)
	if err != nil {
		return false, err
	}
	b := &build{s: w.cache, cluster: w.Cluster, budget: w.Budget, signer: w.Signer, who: clusterIdentity(w.Cluster), now: w.now()}
	unchanged := int64(0)
	for _, u := range batch {
		next, err := b.apply(h, u)
		if err != nil {
			return false, err
		}
		if next == h {
			unchanged++
		}
		h = next
	}
	if h.commit == base {
		w.stats.unchanged.Add(unchanged)
		w.keep(h)
		return false, nil
	}
	if careful && fetched {
		// Listen before talking: we lost a race and the branch has moved
		// again since, so others are writing; a push now would likely
		// lose and cost the server a whole unpack. Look again, and push
		// only if the tip is still the one we built on.
		again, err := w.rem.advertise(ctx, branch)
		if err != nil {
			return false, err
		}
		defer func() { _ = again.sess.Close() }()
		if again.exists != t.exists || again.hash != t.hash {
			return false, &rejectedError{url: w.rem.shown, ref: branch.String(), status: "stale info: the branch moved while fetching"}
		}
		t = again
	}
	if err := w.rem.push(ctx, t, branch, h.commit, b.objects, w.cache); err != nil {
		return true, err
	}
	w.stats.pushes.Add(1)
	w.stats.commits.Add(int64(b.commits))
	w.stats.unchanged.Add(unchanged)
	w.keep(h)
	return true, nil
}

// headAt makes the cache hold commit's head and reads it, fetching what is
// new since the cached tip; when the cache cannot serve (the branch went
// back to an older commit) it fetches commit afresh.
func (w *Writer) headAt(ctx context.Context, commit plumbing.Hash) (*head, error) {
	if commit.IsZero() {
		w.keep(&head{})
		return readHead(w.cache, commit, w.Cluster)
	}
	if commit != w.tip {
		var haves []plumbing.Hash
		if !w.tip.IsZero() {
			haves = []plumbing.Hash{w.tip}
		}
		if err := w.rem.fetch(ctx, commit, haves, w.cache); err != nil {
			return nil, err
		}
		w.stats.fetches.Add(1)
	}
	h, err := readHead(w.cache, commit, w.Cluster)
	if errors.Is(err, errMissingObject) {
		w.cache, w.tip = newStore(), plumbing.ZeroHash
		if err := w.rem.fetch(ctx, commit, nil, w.cache); err != nil {
			return nil, err
		}
		w.stats.fetches.Add(1)
		h, err = readHead(w.cache, commit, w.Cluster)
	}
	if err != nil {
		return nil, err
	}
	// Drop what a lost race or the fetch left behind before building.
	w.keep(h)
	return h, nil
}

// keep makes h the cached head and drops every other object, so the cache
// stays the size of one head however long the branch grows.
func (w *Writer) keep(h *head) {
	if h.commit.IsZero() {
		w.cache, w.tip = newStore(), plumbing.ZeroHash
		return
	}
	next := newStore()
	var keep []plumbing.Hash
	keep = append(keep, h.commit)
	if raw, err := w.cache.read(plumbing.CommitObject, h.commit); err == nil {
		if root, err := commitTree(raw); err == nil {
			keep = append(keep, root)
		}
	}
	if e, ok := findEntry(h.root, clustersDir); ok {
		keep = append(keep, e.Hash)
	}
	if e, ok := findEntry(h.clusters, w.Cluster); ok {
		keep = append(keep, e.Hash)
	}
	keep = append(keep, h.auditBlob)
	if err := w.cache.copyTo(next, keep...); err != nil {
		// Not fatal: the next attempt fetches afresh.
		w.cache, w.tip = newStore(), plumbing.ZeroHash
		return
	}
	w.cache, w.tip = next, h.commit
}
