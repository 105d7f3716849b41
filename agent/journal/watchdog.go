package journal

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
)

// Watchdog timing defaults.
const (
	// DefaultGrace is how long past an entry's deadline the watchdog
	// waits before it reverts: the agent reverts at the deadline itself,
	// and may commit up to it (its report of success is bounded by the
	// deadline, the commit that follows is a local write).
	DefaultGrace = time.Second
	// DefaultInterval is how often the directory is read for new entries.
	DefaultInterval = 250 * time.Millisecond
	// retryAfter is how soon a failed revert is tried again.
	retryAfter = time.Second
)

// Watchdog reverts the entries whose deadline passed more than Grace ago
// and that are neither committed nor closed. It needs only the journal and
// the Host: no agent, no API server.
type Watchdog struct {
	// Journal is the journal watched. Required.
	Journal *Journal
	// Host restores the bonds. Required.
	Host Host
	// By names the reverter in the entries it closes (default ByWatchdog).
	By string
	// Grace and Interval default to DefaultGrace and DefaultInterval.
	Grace    time.Duration
	Interval time.Duration
	// OnRevert, when set, is called after each revert attempt that
	// closed an entry (or found it closed), with what happened.
	OnRevert func(e *Entry, outcome Outcome, late time.Duration)
	// Log receives a line per revert and per unreadable entry.
	Log logr.Logger

	failed map[string]time.Time
	told   map[string]bool
	pruned time.Time
}

// pruneEvery is how often the watchdog drops old terminal entries.
const pruneEvery = time.Hour

// Run watches until ctx ends; it returns nil then.
func (w *Watchdog) Run(ctx context.Context) error {
	if w.Journal == nil || w.Host == nil {
		return fmt.Errorf("journal: a watchdog needs a Journal and a Host")
	}
	w.defaults()
	for {
		next := w.Pass(ctx)
		wait := w.Interval
		if !next.IsZero() {
			wait = min(wait, max(0, next.Sub(w.Journal.clock())))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Pass reverts what is due now and returns when the next entry falls due
// (zero when none is waiting).
func (w *Watchdog) Pass(ctx context.Context) time.Time {
	w.defaults()
	entries, errs := w.Journal.List()
	for _, err := range errs {
		if !w.told[err.Error()] {
			// A file that is not an entry is never acted on; say so once.
			w.Log.Error(err, "journal entry unreadable; not acted on")
			w.told[err.Error()] = true
		}
	}
	now := w.Journal.clock()
	var next time.Time
	due := false
	for _, e := range entries {
		if e.State.Terminal() {
			continue
		}
		at := e.Deadline.Add(w.Grace)
		if retry, ok := w.failed[e.Task.UID]; ok && retry.After(at) {
			at = retry
		}
		if now.Before(at) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		due = true
	}
	if !due {
		if now.Sub(w.pruned) > pruneEvery {
			w.pruned = now
			w.prune()
		}
		return next
	}
	unlock, err := w.Journal.lock(ctx)
	if err != nil {
		return next
	}
	defer unlock()
	for _, e := range entries {
		if e.State.Terminal() {
			continue
		}
		now := w.Journal.clock()
		if now.Before(e.Deadline.Add(w.Grace)) || now.Before(w.failed[e.Task.UID]) {
			continue
		}
		// Read again under the lock: the agent may have closed it.
		cur, err := w.Journal.Get(e.Task.UID)
		if err != nil || cur == nil || cur.State.Terminal() {
			continue
		}
		late := now.Sub(cur.Deadline)
		reason := fmt.Sprintf("the %s reverted %s: the deadline %s passed %s ago and the change was not committed", w.By, cur.Bond, cur.Deadline.UTC().Format(time.RFC3339), late.Round(time.Millisecond))
		outcome, closed, err := w.Journal.revertLocked(ctx, w.Host, cur, w.By, reason)
		if err != nil {
			w.failed[cur.Task.UID] = w.Journal.clock().Add(retryAfter)
			w.Log.Error(err, "revert failed; trying again", "task", cur.Task.String(), "bond", cur.Bond)
			continue
		}
		delete(w.failed, cur.Task.UID)
		w.Log.Info("journal entry past its deadline closed", "task", cur.Task.String(), "bond", cur.Bond, "outcome", outcome, "late", late.Round(time.Millisecond).String())
		if w.OnRevert != nil {
			w.OnRevert(closed, outcome, late)
		}
	}
	return time.Time{}
}

func (w *Watchdog) defaults() {
	if w.By == "" {
		w.By = ByWatchdog
	}
	if w.Grace <= 0 {
		w.Grace = DefaultGrace
	}
	if w.Interval <= 0 {
		w.Interval = DefaultInterval
	}
	if w.failed == nil {
		w.failed, w.told = map[string]time.Time{}, map[string]bool{}
	}
}

// prune drops old terminal entries, under the lock when it is free.
func (w *Watchdog) prune() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*lockPollInterval)
	defer cancel()
	unlock, err := w.Journal.lock(ctx)
	if err != nil {
		return
	}
	defer unlock()
	entries, _ := w.Journal.List()
	w.Journal.prune(entries)
}
