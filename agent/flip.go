package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/nodewright/nodewright/agent/action"
	"github.com/nodewright/nodewright/agent/journal"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Timing of the FlipBond executor.
const (
	// revertTimeout bounds putting a bond back, which goes on even while the
	// agent shuts down.
	revertTimeout = 20 * time.Second
	// reportBackoffMin and reportBackoffMax bound the wait between attempts
	// to write a task's outcome or to revert.
	reportBackoffMin = 200 * time.Millisecond
	reportBackoffMax = 5 * time.Second
)

// reportFunc writes a task's terminal phase and message. It returns an
// error wrapping errTaskGone when the task can no longer be written.
type reportFunc func(ctx context.Context, phase v1.TaskPhase, message string) error

// flipRun is one execution (or resumption) of a FlipBond task.
type flipRun struct {
	host      Host
	now       func() time.Time
	apiServer string
	f         action.FlipBond
	report    reportFunc
	// journal, when set, records the change before it is made (see
	// package journal); task names the entry.
	journal *journal.Journal
	task    journal.Task

	// deadman is when the bond goes back unless Succeeded was reported;
	// deadmanText says where that time comes from, for messages.
	deadman     time.Time
	deadmanText string
}

// setDeadman arms the dead-man switch: revertAfter from the task's start,
// or the task's deadline when that is earlier.
func (r *flipRun) setDeadman(started, deadline time.Time) {
	r.deadman = started.Add(r.f.RevertAfter)
	r.deadmanText = fmt.Sprintf("the dead-man deadline %s (revertAfter %s from the start)", timestamp(r.deadman), r.f.RevertAfter)
	if !deadline.IsZero() && deadline.Before(r.deadman) {
		r.deadman = deadline
		r.deadmanText = fmt.Sprintf("the task's deadline %s", timestamp(deadline))
	}
}

// run carries out the flip. It reads the bond's mode first: toMode means a
// resumed task whose flip was made (probe again, never set again);
// fromMode means flip now; anything else is not touched. Then it probes and
// reports, reverting on a failed probe or when Succeeded cannot be
// reported before the dead-man deadline. When ctx ends (the agent stops)
// it returns at once and leaves the task Running for the restarted agent to
// resume, except that a revert in progress is finished.
func (r *flipRun) run(ctx context.Context) error {
	logger := log.FromContext(ctx).WithValues("bond", r.f.Bond, "fromMode", r.f.FromMode, "toMode", r.f.ToMode)
	ctx = log.IntoContext(ctx, logger)
	f := r.f
	if r.journal != nil {
		e, err := r.journal.Get(r.task.UID)
		if err != nil {
			return ignoreGone(ctx, r.report(ctx, v1.TaskFailed, fmt.Sprintf("the node's journal entry for this task cannot be read (%v); %s not touched: a person must check it", err, f.Bond)))
		}
		if e != nil {
			return r.resume(ctx, e)
		}
	}
	mode, err := r.host.BondMode(ctx, f.Bond)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return ignoreGone(ctx, r.report(ctx, v1.TaskFailed, fmt.Sprintf("reading %s's mode failed: %v; not touched", f.Bond, err)))
	}
	switch mode {
	case f.ToMode:
		if r.journal != nil {
			// The entry is written before the first change: without one,
			// this agent never changed the bond.
			return ignoreGone(ctx, r.report(ctx, v1.TaskFailed, fmt.Sprintf("%s runs %s already, but the node's journal has no record of this task changing it; not touched", f.Bond, f.ToMode)))
		}
		if !r.now().Before(r.deadman) {
			return r.revertAndReport(ctx, fmt.Sprintf("the agent resumed the task after %s", r.deadmanText))
		}
		logger.Info("bond already runs toMode: the flip was made before the agent restarted; probing without setting it again")
	case f.FromMode:
		if !r.now().Before(r.deadman) {
			return ignoreGone(ctx, r.report(ctx, v1.TaskFailed, fmt.Sprintf("%s passed before %s was flipped; it runs %s; not touched", r.deadmanText, f.Bond, f.FromMode)))
		}
		if err := r.set(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return r.setFailed(ctx, err)
		}
		logger.Info("bond flipped")
	default:
		return ignoreGone(ctx, r.report(ctx, v1.TaskFailed, fmt.Sprintf("%s runs %s, not the expected fromMode %s; not touched", f.Bond, mode, f.FromMode)))
	}
	return r.confirm(ctx)
}

// set flips the bond, bounded by the dead-man deadline, journalled first
// when there is a journal.
func (r *flipRun) set(ctx context.Context) error {
	sctx, cancel := context.WithDeadline(ctx, r.realTime(r.deadman))
	defer cancel()
	change := func(ctx context.Context) error { return r.host.SetBondMode(ctx, r.f.Bond, r.f.ToMode) }
	if r.journal == nil {
		return change(sctx)
	}
	return r.journal.Apply(sctx, r.host.(journal.Host), journal.Change{
		Task: r.task, Bond: r.f.Bond, FromMode: r.f.FromMode, ToMode: r.f.ToMode, Deadline: r.deadman,
	}, change)
}

// setFailed handles a flip that returned an error: a bond still as before
// is Failed (nothing changed; its journal entry is closed); otherwise it
// is put back.
func (r *flipRun) setFailed(ctx context.Context, setErr error) error {
	reason := fmt.Sprintf("setting %s to %s failed: %v", r.f.Bond, r.f.ToMode, setErr)
	if mode, err := r.host.BondMode(ctx, r.f.Bond); err == nil && mode == r.f.FromMode {
		if r.journal != nil {
			if err := r.revert(ctx, reason); err != nil {
				return r.revertAndReport(ctx, reason)
			}
		}
		return ignoreGone(ctx, r.report(ctx, v1.TaskFailed, fmt.Sprintf("%s; %s still runs %s", reason, r.f.Bond, r.f.FromMode)))
	}
	return r.revertAndReport(ctx, reason)
}

// resume continues a task whose change the node's journal records: a
// change that was under way when the agent stopped is undone; a change
// that was made is probed again, never made twice; a closed entry is
// reported as it closed.
func (r *flipRun) resume(ctx context.Context, e *journal.Entry) error {
	logger := log.FromContext(ctx).WithValues("journal", e.State)
	switch e.State {
	case journal.StateOpen:
		return r.revertAndReport(ctx, "the agent stopped while it was changing the bond (the node's journal has the change open)")
	case journal.StateApplied:
		if !r.now().Before(r.deadman) {
			return r.revertAndReport(ctx, fmt.Sprintf("the agent resumed the task after %s", r.deadmanText))
		}
		logger.Info("the journal records the flip as made before the agent restarted; probing without flipping again")
		return r.confirm(ctx)
	case journal.StateCommitted:
		return ignoreGone(ctx, r.reportUntilDone(ctx, v1.TaskSucceeded, fmt.Sprintf("%s runs %s (was %s); the node's journal records the change as committed", r.f.Bond, r.f.ToMode, r.f.FromMode)))
	case journal.StateReverted:
		return ignoreGone(ctx, r.reportUntilDone(ctx, v1.TaskReverted, fmt.Sprintf("%s; %s reverted to %s by the %s at %s", e.Reason, r.f.Bond, r.f.FromMode, e.ClosedBy, timestamp(*e.Closed))))
	default:
		return ignoreGone(ctx, r.reportUntilDone(ctx, v1.TaskFailed, fmt.Sprintf("%s (the %s at %s): a person must check %s", e.Reason, e.ClosedBy, timestamp(*e.Closed), r.f.Bond)))
	}
}

// confirm runs the probes under the dead-man switch, then reports
// Succeeded; it reverts when a probe fails, the deadline passes, or the
// success cannot be reported in time.
func (r *flipRun) confirm(ctx context.Context) error {
	logger := log.FromContext(ctx)
	dctx, cancel := context.WithDeadline(ctx, r.realTime(r.deadman))
	defer cancel()
	probes := r.f.Probes(r.apiServer)
	for _, p := range probes {
		pctx, pcancel := context.WithTimeout(dctx, r.f.ProbeTimeout)
		err := r.host.Probe(pctx, p)
		timedOut := pctx.Err() != nil
		pcancel()
		if err == nil {
			logger.V(1).Info("probe passed", "probe", p.String())
			continue
		}
		switch {
		case ctx.Err() != nil:
			// The agent stops: leave the flip for the restarted agent,
			// which probes again within the same dead-man deadline.
			return nil
		case dctx.Err() != nil:
			return r.revertAndReport(ctx, fmt.Sprintf("%s passed during probe %s (%v)", r.deadmanText, p, err))
		case timedOut:
			return r.revertAndReport(ctx, fmt.Sprintf("probe %s failed: no answer within probeTimeout %s (%v)", p, r.f.ProbeTimeout, err))
		default:
			return r.revertAndReport(ctx, fmt.Sprintf("probe %s failed: %v", p, err))
		}
	}
	passed := "no probes were asked for"
	if len(probes) > 0 {
		names := make([]string, len(probes))
		for i, p := range probes {
			names[i] = p.String()
		}
		passed = "probes passed: " + strings.Join(names, ", ")
	}
	logger.Info("bond confirmed; reporting Succeeded", "probes", len(probes))
	msg := fmt.Sprintf("%s runs %s (was %s); %s", r.f.Bond, r.f.ToMode, r.f.FromMode, passed)
	err := r.reportUntilDone(dctx, v1.TaskSucceeded, msg)
	switch {
	case err == nil:
		r.commit(ctx, msg)
		return nil
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, errTaskGone):
		// Nobody can record the success: the node goes back, as it would
		// had it lost contact.
		logger.Info("task can no longer be reported; reverting", "reason", err.Error())
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), revertTimeout)
		defer rcancel()
		if err := r.revert(rctx, "the task can no longer be reported: "+err.Error()); err != nil {
			logger.Error(err, "revert failed; the bond may still run toMode")
		}
		return nil
	default:
		return r.revertAndReport(ctx, fmt.Sprintf("probes passed, but Succeeded could not be reported before %s (last error: %v)", r.deadmanText, err))
	}
}

// revertAndReport puts the bond back to fromMode and reports Reverted with
// reason, or Failed when the revert itself fails. The revert goes on even
// when ctx ends; the report is retried until it is written or ctx ends.
func (r *flipRun) revertAndReport(ctx context.Context, reason string) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revertTimeout)
	err := r.revert(rctx, reason)
	cancel()
	phase, msg := v1.TaskReverted, fmt.Sprintf("%s; %s reverted to %s", reason, r.f.Bond, r.f.FromMode)
	if err != nil {
		phase = v1.TaskFailed
		msg = fmt.Sprintf("%s; reverting %s to %s failed: %v; the bond may still run %s: a person must check the node", reason, r.f.Bond, r.f.FromMode, err, r.f.ToMode)
		log.FromContext(ctx).Error(err, "revert failed")
	} else {
		log.FromContext(ctx).Info("bond reverted", "reason", reason)
	}
	err = r.reportUntilDone(ctx, phase, msg)
	if err != nil && ctx.Err() == nil {
		return ignoreGone(ctx, err)
	}
	return nil
}

// commit records in the journal that the change stands. The report of
// success is bounded by the deadline and the watchdog waits a grace period
// past it, so this local write lands first unless the agent dies between
// the two; the restarted agent then finds the entry reverted.
func (r *flipRun) commit(ctx context.Context, msg string) {
	if r.journal == nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journal.DefaultGrace)
	defer cancel()
	if e, err := r.journal.Commit(cctx, r.task.UID, msg); err != nil {
		state := journal.State("unknown")
		if e != nil {
			state = e.State
		}
		log.FromContext(ctx).Error(err, "Succeeded was reported, but the journal could not record the change as committed", "journal", state)
	}
}

// revert puts the bond back, retrying until ctx ends: through the
// journal (its snapshot, exactly) when there is one, else by setting
// fromMode unless the bond runs it already.
func (r *flipRun) revert(ctx context.Context, reason string) error {
	if r.journal != nil {
		return r.revertJournalled(ctx, reason)
	}
	wait := reportBackoffMin
	for {
		mode, err := r.host.BondMode(ctx, r.f.Bond)
		if err == nil && mode == r.f.FromMode {
			return nil
		}
		if err == nil {
			if err = r.host.SetBondMode(ctx, r.f.Bond, r.f.FromMode); err == nil {
				return nil
			}
		}
		if !sleep(ctx, wait) {
			return err
		}
		wait = min(2*wait, reportBackoffMax)
	}
}

// revertJournalled restores the journal's snapshot. A bond changed by
// someone else since is left alone and is an error, as is a change the
// journal records as committed.
func (r *flipRun) revertJournalled(ctx context.Context, reason string) error {
	wait := reportBackoffMin
	for {
		outcome, e, err := r.journal.Revert(ctx, r.host.(journal.Host), r.task.UID, journal.ByAgent, reason)
		if err == nil {
			switch outcome {
			case journal.ChangedSince:
				return fmt.Errorf("not reverted: %s", e.Reason)
			case journal.NotReverted:
				return fmt.Errorf("not reverted: the node's journal records the change as %s", e.State)
			}
			log.FromContext(ctx).V(1).Info("journal revert", "outcome", outcome)
			return nil
		}
		if !sleep(ctx, wait) {
			return err
		}
		wait = min(2*wait, reportBackoffMax)
	}
}

// reportUntilDone writes the outcome, retrying with backoff until it is
// written, the task is gone, or ctx ends. It returns nil when written, else
// the last error the API server gave.
func (r *flipRun) reportUntilDone(ctx context.Context, phase v1.TaskPhase, msg string) error {
	logger := log.FromContext(ctx)
	wait := reportBackoffMin
	var last error
	for {
		err := r.report(ctx, phase, msg)
		if err == nil || errors.Is(err, errTaskGone) {
			return err
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		logger.Error(err, "writing the task's outcome failed; retrying", "phase", phase)
		if !sleep(ctx, wait) {
			return last
		}
		wait = min(2*wait, reportBackoffMax)
	}
}

// realTime converts a reading of the agent's clock to the wall-clock time
// contexts and timers use.
func (r *flipRun) realTime(t time.Time) time.Time {
	return time.Now().Add(t.Sub(r.now()))
}

// sleep waits for d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
