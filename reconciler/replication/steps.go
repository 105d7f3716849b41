package replication

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nodewright/nodewright/reconciler/backend"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Step phases of a batch, as shown in status.progress (target batch-N).
const (
	// BatchPending is a planned batch whose replicas are not placed yet.
	BatchPending = "Pending"
	// BatchSyncing is a batch whose replicas are placed and syncing.
	BatchSyncing = "Syncing"
	// BatchTimedOut is a batch that did not sync within spec.syncTimeout,
	// so the operation halted.
	BatchTimedOut = "TimedOut"
	// BatchDone is a batch whose resources all have toPlaceCount UpToDate
	// replicas.
	BatchDone = "Done"
)

// While a batch syncs, each of its replicas not UpToDate has a progress
// entry of its own, target replica/<resource>@<node> (see stall.go), with
// its condition as phase and its resync percentage in the message; the
// entries go when the replica is UpToDate or the batch is done.

// Reasons this kind sets, on its transitions, waits and halts.
const (
	// ReasonNoStorageBackend halts the operation when the reconciler runs
	// without a LINSTOR backend.
	ReasonNoStorageBackend = "NoStorageBackend"
	// ReasonPreflightFailed halts the operation when the resource group
	// is not as the spec expects; nothing was changed.
	ReasonPreflightFailed = "PreflightFailed"
	// ReasonNothingToDo ends the operation at Preflight when every
	// resource has toPlaceCount replicas and the group's place count is
	// toPlaceCount already.
	ReasonNothingToDo = "NothingToDo"
	// ReasonPreflightPassed moves the operation from Preflight to Placing.
	ReasonPreflightPassed = "PreflightPassed"
	// ReasonBatchPlaced moves the operation from Placing to Syncing.
	ReasonBatchPlaced = "BatchPlaced"
	// ReasonSyncing is the wait reason while a batch syncs.
	ReasonSyncing = "Syncing"
	// ReasonSyncTimeout halts the operation when a batch did not sync
	// within spec.syncTimeout; its message names the resources.
	ReasonSyncTimeout = "SyncTimeout"
	// ReasonBatchSynced moves the operation from Syncing to Placing, for
	// the next batch.
	ReasonBatchSynced = "BatchSynced"
	// ReasonAllPlaced moves the operation to Adjusting once no resource
	// lacks a replica.
	ReasonAllPlaced = "AllPlaced"
	// ReasonPlaceCountSet moves the operation from Adjusting to Verifying.
	ReasonPlaceCountSet = "PlaceCountSet"
	// ReasonVerified ends the operation in Succeeded.
	ReasonVerified = "Verified"
	// ReasonVerifyFailed halts the operation when, at the end, the place
	// count or a resource's replicas are not as they should be.
	ReasonVerifyFailed = "VerifyFailed"
)

// syncPoll is how soon a syncing batch is looked at again.
const syncPoll = 10 * time.Second

// maxListed bounds how many resources a message names.
const maxListed = 10

// Kind is the ReplicationUpgrade kind for the reconcile skeleton.
var Kind = &operation.Kind{
	Name:       v1.KindReplicationUpgrade,
	Table:      Table,
	New:        func() v1.Operation { return &v1.ReplicationUpgrade{} },
	First:      Preflight,
	MaxRetries: 5,
	Steps: map[phase.Phase]operation.Step{
		phase.Pending:          operation.Begin,
		phase.AwaitingApproval: operation.AwaitApproval,
		Preflight:              preflight,
		Placing:                placing,
		Syncing:                syncing,
		Adjusting:              adjusting,
		Verifying:              verifying,
	},
}

func upgrade(run *operation.Run) *v1.ReplicationUpgrade {
	u := run.Op.(*v1.ReplicationUpgrade).DeepCopy()
	v1.Default(u)
	return u
}

// stallTimeout is the spec's stallTimeout, defaulted.
func stallTimeout(u *v1.ReplicationUpgrade) time.Duration {
	if u.Spec.StallTimeout == nil {
		return v1.DefaultStallTimeout
	}
	return u.Spec.StallTimeout.Duration
}

// storage returns the LINSTOR backend, or a stall when there is none.
func storage(run *operation.Run) (backend.Storage, error) {
	if run.Env.Storage == nil {
		return nil, operation.Stall(ReasonNoStorageBackend, "a ReplicationUpgrade needs the LINSTOR backend, which this reconciler has not got; nothing was changed")
	}
	return run.Env.Storage, nil
}

// preflight checks the group against the spec and the profile, and plans
// the batches into status.progress.
func preflight(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	u := upgrade(run)
	st, err := storage(run)
	if err != nil {
		return "", err
	}
	profile, err := run.Env.Profile(ctx)
	if err != nil {
		return "", err
	}
	pool, nodes, ok := StoragePool(profile, u.Spec.ResourceGroup)
	if !ok {
		return "", operation.Stall(ReasonPreflightFailed, "the profile of site %s declares no resource group %s; nothing was changed", profile.Spec.Site, u.Spec.ResourceGroup)
	}
	g, err := st.ResourceGroup(ctx, u.Spec.ResourceGroup)
	if err != nil {
		return "", err
	}
	need, err := Check(u.Spec, g, pool, nodes)
	if err != nil {
		return "", err
	}
	to := int(u.Spec.ToPlaceCount)
	if len(need) == 0 && g.PlaceCount == to {
		run.Reason, run.Message = ReasonNothingToDo, fmt.Sprintf("resource group %s has place count %d and every resource %d UpToDate replicas", g.Name, to, to)
		return phase.Succeeded, nil
	}
	if len(need) > 0 {
		pools, err := st.StoragePools(ctx, pool)
		if err != nil {
			return "", err
		}
		if err := Capacity(g, need, to, pool, nodes, pools); err != nil {
			return "", err
		}
	}
	st0 := run.Status()
	st0.Progress = slices.DeleteFunc(st0.Progress, func(p v1.StepProgress) bool { return isBatch(p.Target) })
	batches := Batches(need, int(u.Spec.BatchSize))
	for i, b := range batches {
		run.SetProgress(batchTarget(i+1), BatchPending, "%s", batchMessage(b, "waiting for replicas up to %d", to))
	}
	run.Reason, run.Message = ReasonPreflightPassed, fmt.Sprintf("%d of %d resources of %s need replicas (place count %d → %d), in %d batches of up to %d; %d nodes have storage pool %s",
		len(need), len(g.Resources), g.Name, u.Spec.FromPlaceCount, to, len(batches), u.Spec.BatchSize, len(nodes), pool)
	return Placing, nil
}

// StoragePool returns the storage pool of the profile's resource group
// and the profile's nodes that have it, in profile order; ok is false
// when the profile has no such group.
func StoragePool(p *v1.EdgeProfile, group string) (pool string, nodes []string, ok bool) {
	for _, rg := range p.Spec.ResourceGroups {
		if rg.Name != group {
			continue
		}
		for _, n := range p.Spec.Nodes {
			if slices.Contains(n.StoragePools, rg.StoragePool) {
				nodes = append(nodes, n.Name)
			}
		}
		return rg.StoragePool, nodes, true
	}
	return "", nil, false
}

// Check is the preflight's pure verdict on a resource group: it returns
// the resources (by name) that need another replica to reach
// toPlaceCount, or a StallError when the group's place count is neither
// fromPlaceCount nor toPlaceCount, fewer than toPlaceCount nodes have its
// storage pool, a replica is not UpToDate, or a resource has fewer than
// fromPlaceCount replicas.
func Check(spec v1.ReplicationUpgradeSpec, g *backend.ResourceGroup, pool string, poolNodes []string) ([]string, error) {
	from, to := int(spec.FromPlaceCount), int(spec.ToPlaceCount)
	if to <= from {
		return nil, operation.Stall(ReasonPreflightFailed, "toPlaceCount %d is not above fromPlaceCount %d; nothing was changed", to, from)
	}
	if g.PlaceCount != from && g.PlaceCount != to {
		return nil, operation.Stall(ReasonPreflightFailed, "resource group %s has place count %d, neither fromPlaceCount %d nor toPlaceCount %d; nothing was changed", g.Name, g.PlaceCount, from, to)
	}
	if len(poolNodes) < to {
		return nil, operation.Stall(ReasonPreflightFailed, "toPlaceCount %d needs %d nodes with storage pool %s, the profile has %d (%s); nothing was changed", to, to, pool, len(poolNodes), orNone(poolNodes))
	}
	var unsynced, short, need []string
	for _, r := range g.Resources {
		if r.InSync() < len(r.Replicas) {
			unsynced = append(unsynced, describe(r, 0))
		}
		if len(r.Replicas) < from {
			short = append(short, fmt.Sprintf("%s (%d of %d replicas)", r.Name, len(r.Replicas), from))
		}
		if len(r.Replicas) < to {
			need = append(need, r.Name)
		}
	}
	if len(unsynced) > 0 {
		return nil, operation.Stall(ReasonPreflightFailed, "not every replica of %s is UpToDate: %s; nothing was changed", g.Name, list(unsynced))
	}
	if len(short) > 0 {
		return nil, operation.Stall(ReasonPreflightFailed, "resources of %s have fewer than fromPlaceCount replicas: %s; repair them first, nothing was changed", g.Name, list(short))
	}
	slices.Sort(need)
	return need, nil
}

// Batches splits resources, in their order, into groups of at most size:
// each group gets its replicas placed together and synced before the
// next starts.
func Batches(resources []string, size int) [][]string {
	if size < 1 {
		size = 1
	}
	var out [][]string
	for i := 0; i < len(resources); i += size {
		out = append(out, resources[i:min(i+size, len(resources))])
	}
	return out
}

// batch is one batch as status.progress records it.
type batch struct {
	target    string
	resources []string
	phase     string
}

const batchPrefix = "batch-"

func batchTarget(i int) string { return batchPrefix + strconv.Itoa(i) }

func isBatch(target string) bool {
	n, ok := strings.CutPrefix(target, batchPrefix)
	if !ok {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}

// batchMessage writes a batch's progress message: its resources, then
// what happens. Resource names hold no ", " or ": ", so the list reads
// back with batchResources.
func batchMessage(resources []string, format string, args ...any) string {
	return strings.Join(resources, ", ") + ": " + fmt.Sprintf(format, args...)
}

func batchResources(msg string) []string {
	names, _, _ := strings.Cut(msg, ": ")
	if names == "" {
		return nil
	}
	return strings.Split(names, ", ")
}

// batches returns the planned batches, in order.
func batches(run *operation.Run) []batch {
	var out []batch
	for _, p := range run.Status().Progress {
		if isBatch(p.Target) {
			out = append(out, batch{target: p.Target, resources: batchResources(p.Message), phase: p.Phase})
		}
	}
	return out
}

// current returns the first batch not done.
func current(run *operation.Run) (batch, bool) {
	for _, b := range batches(run) {
		if b.phase != BatchDone {
			return b, true
		}
	}
	return batch{}, false
}

// lacking returns the resources of g with fewer than to replicas.
func lacking(g *backend.ResourceGroup, to int) []string {
	var out []string
	for _, r := range g.Resources {
		if len(r.Replicas) < to {
			out = append(out, r.Name)
		}
	}
	slices.Sort(out)
	return out
}

// placing checks the step gates and places the next batch's replicas.
// With no batch left it plans one more for resources that still lack a
// replica (made since Preflight), or moves on to Adjusting.
func placing(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	u := upgrade(run)
	st, err := storage(run)
	if err != nil {
		return "", err
	}
	to := int(u.Spec.ToPlaceCount)
	b, ok := current(run)
	if !ok {
		g, err := st.ResourceGroup(ctx, u.Spec.ResourceGroup)
		if err != nil {
			return "", err
		}
		need := lacking(g, to)
		if len(need) == 0 {
			run.Reason, run.Message = ReasonAllPlaced, fmt.Sprintf("every resource of %s has %d replicas", g.Name, to)
			return Adjusting, nil
		}
		n := len(batches(run))
		for i, res := range Batches(need, int(u.Spec.BatchSize)) {
			run.SetProgress(batchTarget(n+i+1), BatchPending, "%s", batchMessage(res, "waiting for replicas up to %d (found lacking after the planned batches)", to))
		}
		b, _ = current(run)
	}
	if b.phase != BatchPending {
		// Placed already (a resumed operation): observe its sync.
		run.Reason, run.Message = ReasonBatchPlaced, fmt.Sprintf("%s is placed; watching its sync", b.target)
		return Syncing, nil
	}
	if err := run.CheckStepGates(ctx); err != nil {
		return "", err
	}
	if err := st.Place(ctx, u.Spec.ResourceGroup, b.resources, to); err != nil {
		return "", err
	}
	run.SetProgress(b.target, BatchSyncing, "%s", batchMessage(b.resources, "placed up to %d replicas, syncing", to))
	run.Reason, run.Message = ReasonBatchPlaced, fmt.Sprintf("%s: %d resources placed up to %d replicas (%s)", b.target, len(b.resources), to, list(b.resources))
	return Syncing, nil
}

// syncing waits until the current batch's resources have toPlaceCount
// UpToDate replicas, bounded by spec.syncTimeout from when the phase
// began.
func syncing(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	u := upgrade(run)
	st, err := storage(run)
	if err != nil {
		return "", err
	}
	to := int(u.Spec.ToPlaceCount)
	b, ok := current(run)
	if !ok || b.phase == BatchPending {
		run.Reason, run.Message = ReasonBatchSynced, "no batch is syncing"
		return Placing, nil
	}
	g, err := st.ResourceGroup(ctx, u.Spec.ResourceGroup)
	if err != nil {
		return "", err
	}
	if stalled := trackReplicas(run, g, b.resources, stallTimeout(u)); len(stalled) > 0 {
		run.SetProgress(b.target, BatchStalled, "%s", batchMessage(b.resources, "replicas without progress: %s", list(stalled)))
		return "", operation.Stall(ReasonSyncStalled, "%s: %d replicas made no progress for stallTimeout %s: %s; the new replicas stay, no later batch started; Resume watches them for another stallTimeout",
			b.target, len(stalled), v1.FormatDuration(stallTimeout(u)), list(stalled))
	}
	var waiting []string
	for _, name := range b.resources {
		i := slices.IndexFunc(g.Resources, func(r backend.Resource) bool { return r.Name == name })
		if i < 0 {
			continue // deleted meanwhile: nothing to wait for
		}
		if r := g.Resources[i]; r.InSync() < to {
			waiting = append(waiting, describe(r, to))
		}
	}
	if len(waiting) > 0 {
		elapsed := time.Duration(0)
		if since := run.Status().PhaseSince; since != nil {
			elapsed = run.Now.Sub(since.Time)
		}
		if elapsed >= u.Spec.SyncTimeout.Duration {
			run.SetProgress(b.target, BatchTimedOut, "%s", batchMessage(b.resources, "not UpToDate after %s: %s", elapsed.Round(time.Second), list(waiting)))
			return "", operation.Stall(ReasonSyncTimeout, "%s: %d of %d resources not UpToDate %s after their replicas were placed (syncTimeout %s): %s; the new replicas stay, no later batch started; Resume waits another syncTimeout",
				b.target, len(waiting), len(b.resources), elapsed.Round(time.Second), v1.FormatDuration(u.Spec.SyncTimeout.Duration), list(waiting))
		}
		run.SetProgress(b.target, BatchSyncing, "%s", batchMessage(b.resources, "%d of %d UpToDate; waiting for %s", len(b.resources)-len(waiting), len(b.resources), list(waiting)))
		return "", operation.Wait(syncPoll, ReasonSyncing, "%s: waiting for %s (%s of syncTimeout %s)", b.target, list(waiting), elapsed.Round(time.Second), v1.FormatDuration(u.Spec.SyncTimeout.Duration))
	}
	dropReplicas(run, func(string) bool { return true })
	run.SetProgress(b.target, BatchDone, "%s", batchMessage(b.resources, "%d UpToDate replicas each", to))
	if _, more := current(run); more || len(lacking(g, to)) > 0 {
		run.Reason, run.Message = ReasonBatchSynced, fmt.Sprintf("%s synced; next batch", b.target)
		return Placing, nil
	}
	run.Reason, run.Message = ReasonAllPlaced, fmt.Sprintf("%s synced; every resource of %s has %d UpToDate replicas", b.target, g.Name, to)
	return Adjusting, nil
}

// adjusting sets the group's place count to toPlaceCount.
func adjusting(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	u := upgrade(run)
	st, err := storage(run)
	if err != nil {
		return "", err
	}
	if err := st.SetPlaceCount(ctx, u.Spec.ResourceGroup, int(u.Spec.ToPlaceCount)); err != nil {
		return "", err
	}
	run.Reason, run.Message = ReasonPlaceCountSet, fmt.Sprintf("resource group %s has place count %d", u.Spec.ResourceGroup, u.Spec.ToPlaceCount)
	return Verifying, nil
}

// verifying confirms the place count and every resource's replicas.
func verifying(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	u := upgrade(run)
	st, err := storage(run)
	if err != nil {
		return "", err
	}
	to := int(u.Spec.ToPlaceCount)
	g, err := st.ResourceGroup(ctx, u.Spec.ResourceGroup)
	if err != nil {
		return "", err
	}
	if g.PlaceCount != to {
		return "", operation.Stall(ReasonVerifyFailed, "resource group %s has place count %d after it was set to %d", g.Name, g.PlaceCount, to)
	}
	var short []string
	for _, r := range g.Resources {
		if r.InSync() < to {
			short = append(short, describe(r, to))
		}
	}
	if len(short) > 0 {
		return "", operation.Stall(ReasonVerifyFailed, "resources of %s without %d UpToDate replicas: %s", g.Name, to, list(short))
	}
	run.Reason, run.Message = ReasonVerified, fmt.Sprintf("all %d resources of %s have %d UpToDate replicas; place count %d", len(g.Resources), g.Name, to, to)
	return phase.Succeeded, nil
}

// describe names a resource and what is wrong with its replicas: those
// not UpToDate, and how many it has when fewer than want.
func describe(r backend.Resource, want int) string {
	var bad []string
	for _, rep := range r.Replicas {
		if rep.State != backend.UpToDate {
			bad = append(bad, rep.Node+" "+rep.State)
		}
	}
	if len(r.Replicas) < want {
		bad = append(bad, fmt.Sprintf("%d of %d replicas", len(r.Replicas), want))
	}
	if len(bad) == 0 {
		return r.Name
	}
	return r.Name + " (" + strings.Join(bad, ", ") + ")"
}

// list joins items, naming at most maxListed of them.
func list(items []string) string {
	if len(items) <= maxListed {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:maxListed], ", "), len(items)-maxListed)
}

func orNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}
