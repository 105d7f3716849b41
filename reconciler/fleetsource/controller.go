package fleetsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/nodewright/nodewright/gates"
	"github.com/nodewright/nodewright/gates/gather"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/provenance"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/source/trust"
)

// FieldOwner is the server-side apply field manager of what the
// controller applies.
const FieldOwner = "nodewright-fleetsource"

// Finalizer keeps a deleted FleetSource until its state directory (the
// mirror, the state and index files, the verification cache) is removed.
const Finalizer = "nodewright.io/fleetsource"

// Condition reasons of a FleetSource, besides the DESIGN reason codes
// that a refused range sets. The conditions are Flux's: meta.ReadyCondition,
// meta.ReconcilingCondition and meta.StalledCondition.
const (
	// ReasonApplied means the accepted commit's site is applied.
	ReasonApplied = "Applied"
	// ReasonFetchFailed means the repository or the state directory could
	// not be read; retried.
	ReasonFetchFailed = "FetchFailed"
	// ReasonApplyFailed means the API server refused an apply; retried.
	ReasonApplyFailed = "ApplyFailed"
	// ReasonInvalidManifest means the accepted commit's site does not
	// validate; the last applied commit stays.
	ReasonInvalidManifest = "InvalidManifest"
	// ReasonWrongSite means the FleetSource names a site this reconciler
	// does not serve.
	ReasonWrongSite = "WrongSite"
	// ReasonTrustRootUnreadable means the trust root cannot be read or
	// parsed.
	ReasonTrustRootUnreadable = "TrustRootUnreadable"
	// ReasonFinalizerFailed means the finalizer could not be added;
	// retried.
	ReasonFinalizerFailed = "FinalizerFailed"
	// ReasonStatusFailed means the status could not be written while the
	// reconcile was working; retried.
	ReasonStatusFailed = "StatusUpdateFailed"
)

// Reasons of the steps that continue; only the last step's (ReasonApplied)
// reaches the Ready condition.
const (
	// ReasonSiteServed means this reconciler serves the site.
	ReasonSiteServed = "SiteServed"
	// ReasonFinalizerSet means the finalizer is on the FleetSource.
	ReasonFinalizerSet = "FinalizerSet"
	// ReasonTrustRootRead means the trust root was read.
	ReasonTrustRootRead = "TrustRootRead"
	// ReasonFetched means the branch was fetched and its new commits
	// verified.
	ReasonFetched = "Fetched"
	// ReasonVerified means the new range was accepted.
	ReasonVerified = "Verified"
	// ReasonRendered means the site rendered and the gates gave their
	// verdicts.
	ReasonRendered = "Rendered"
)

// Reconciler reconciles FleetSources.
type Reconciler struct {
	// Client is the manager's client.
	Client client.Client
	// Reader reads Secrets uncached.
	Reader client.Reader
	// StateDir holds one state directory per FleetSource,
	// <StateDir>/<namespace>/<name> (a cache: the ratchet is the status'
	// lastAcceptedCommit). The finalizer removes it with the FleetSource.
	StateDir string
	// Site, when set, is the only site this reconciler serves.
	Site string
	// TrustRoot, when set, pins the trust root for every FleetSource;
	// otherwise each FleetSource's spec.trustRoot Secret is read.
	TrustRoot *trust.Policy
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Tables are the operation kinds' transition tables, which say when an
	// operation has ended.
	Tables operation.Tables
	// Provenance records every operation version before it is applied,
	// with its admission verdict: the operation controllers run only what
	// it holds. Required.
	Provenance *provenance.Ledger
	// Applied, when set, is called with each FleetSource and the commit
	// applied (benchmarks and the demo watch it).
	Applied func(name string, commit string)
	// OnStep, when set, is called after each step with the step's name
	// (StepSite, ...) and result, in the order they run (tests watch the
	// steps with it).
	OnStep func(step string, res Result)
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// StateDirOf returns the state directory of the FleetSource key names.
func (r *Reconciler) StateDirOf(key client.ObjectKey) string {
	return filepath.Join(r.StateDir, key.Namespace, key.Name)
}

// Reconcile is the skeleton: fetch the FleetSource → finalize when it is
// deleted → Reconciling when its generation is new → the steps in order
// (site → finalizer → trust root → fetch → verify → render → apply), until
// one requeues or stops → conditions and status. Every exit sets the Ready
// condition with the reason.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	fs := &v1.FleetSource{}
	if err := r.Client.Get(ctx, req.NamespacedName, fs); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		// Gone without the finalizer's cleanup (it never had one, or a
		// person removed it): its state directory goes too.
		if r.StateDir == "" {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, r.removeStateDir(req.NamespacedName)
	}
	if !fs.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, fs)
	}
	spec := fs.DeepCopy()
	v1.Default(spec)
	run := &run{fs: fs, spec: spec, saved: fs.Status.DeepCopy(), stateDir: r.StateDirOf(req.NamespacedName)}
	if fs.Generation != fs.Status.ObservedGeneration {
		if err := r.progress(ctx, run, "reconciling generation %d", fs.Generation); err != nil {
			return ctrl.Result{}, err
		}
	}

	var res Result
	for _, s := range r.steps() {
		res = s.run(ctx, run)
		if r.OnStep != nil {
			r.OnStep(s.name, res)
		}
		if res.Verdict != Continue {
			log.Info("not applied", "step", s.name, "verdict", res.Verdict, "reason", res.Reason, "message", res.Message)
			break
		}
	}
	setConditions(fs, res)
	if err := r.save(ctx, run); err != nil {
		return ctrl.Result{}, err
	}
	if res.Verdict == Requeue && res.Err != nil {
		return ctrl.Result{}, res.Err
	}
	return ctrl.Result{RequeueAfter: spec.Spec.Interval.Duration}, nil
}

// progress marks the FleetSource Reconciling (see markProgress) and writes
// the status at once when it changed (the ratchet, say), so that what
// watches it sees the work while it happens.
func (r *Reconciler) progress(ctx context.Context, run *run, format string, args ...any) error {
	markProgress(run.fs, format, args...)
	return r.save(ctx, run)
}

// save writes the status when it differs from what the API server has.
func (r *Reconciler) save(ctx context.Context, run *run) error {
	if equalStatus(run.saved, &run.fs.Status) {
		return nil
	}
	if err := r.Client.Status().Update(ctx, run.fs); err != nil {
		return err
	}
	run.saved = run.fs.Status.DeepCopy()
	return nil
}

// finalize removes a deleted FleetSource's state directory, then its
// finalizer, so the API server can let it go. A directory that is gone
// already is no error.
func (r *Reconciler) finalize(ctx context.Context, fs *v1.FleetSource) error {
	if !controllerutil.ContainsFinalizer(fs, Finalizer) {
		return nil
	}
	if err := r.removeStateDir(client.ObjectKeyFromObject(fs)); err != nil {
		return err
	}
	if r.Provenance != nil {
		r.Provenance.Forget(fs.Namespace, fs.Name)
	}
	patch := client.MergeFromWithOptions(fs.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(fs, Finalizer)
	if err := r.Client.Patch(ctx, fs, patch); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("remove finalizer %s: %w", Finalizer, err))
	}
	return nil
}

// removeStateDir removes the FleetSource's state directory, and its
// namespace's directory when no other FleetSource's is left in it.
func (r *Reconciler) removeStateDir(key client.ObjectKey) error {
	if r.StateDir == "" || key.Namespace == "" || key.Name == "" {
		return fmt.Errorf("remove the state directory of %s: no state directory configured", key)
	}
	dir := r.StateDirOf(key)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove the state directory of %s: %w", key, err)
	}
	// Fails, as it should, while another FleetSource of the namespace has
	// its state there.
	_ = os.Remove(filepath.Dir(dir))
	return nil
}

func (r *Reconciler) trustRoot(ctx context.Context, fs *v1.FleetSource) (*trust.Policy, error) {
	if r.TrustRoot != nil {
		return r.TrustRoot, nil
	}
	ref := fs.Spec.TrustRoot
	sec := &corev1.Secret{}
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: fs.Namespace, Name: ref.Name}, sec); err != nil {
		return nil, fmt.Errorf("trust root Secret %s/%s: %w", fs.Namespace, ref.Name, err)
	}
	data, ok := sec.Data[ref.Key]
	if !ok {
		return nil, fmt.Errorf("trust root Secret %s/%s has no key %q", fs.Namespace, ref.Name, ref.Key)
	}
	return trust.Parse(fmt.Sprintf("secret %s/%s key %s", fs.Namespace, ref.Name, ref.Key), data)
}

// apply server-side applies the profile and every operation, and marks
// the operations no longer in git. It returns the operations whose new
// version waits because they are in flight.
func (r *Reconciler) apply(ctx context.Context, fs *v1.FleetSource, commit string, plan *gather.Plan, past *history) ([]string, error) {
	if r.Provenance == nil {
		return nil, errors.New("no provenance record configured")
	}
	if err := r.Provenance.Begin(fs.Namespace, fs.Name); err != nil {
		return nil, err
	}
	labels := map[string]string{v1.LabelSite: plan.Site, v1.LabelSourceCommit: commit}
	profile := plan.Profile.DeepCopy()
	profile.Name, profile.Namespace = plan.Site, "" // cluster-scoped, named after the site
	if err := r.serverSideApply(ctx, profile, v1.KindEdgeProfile, labels, nil); err != nil {
		return nil, err
	}
	var deferred []string
	inGit := map[string]bool{}
	for _, op := range plan.Operations {
		obj, ok := op.Object.(v1.Operation)
		if !ok {
			continue
		}
		obj = obj.DeepCopyObject().(v1.Operation)
		obj.SetNamespace(fs.Namespace)
		inGit[op.Kind+"/"+obj.GetName()] = true
		current := op.Object.(v1.Operation).DeepCopyObject().(v1.Operation)
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: fs.Namespace, Name: obj.GetName()}, current)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, err
		case r.inFlight(op.Kind, current):
			if current.GetAnnotations()[v1.AnnotationBlob] != op.Blob {
				deferred = append(deferred, op.Kind+"/"+obj.GetName())
				if err := r.recordInFlight(fs, op.Kind, current, past); err != nil {
					return nil, err
				}
				continue
			}
			// The version running is this commit's: record it, so that a
			// reconciler that restarts with an empty state directory
			// knows it again (and, knowing nothing of it, takes it as
			// started: it is in flight).
			if err := r.record(fs, commit, op, obj, !r.Provenance.Known(fs.Namespace, op.Kind, obj.GetName())); err != nil {
				return nil, err
			}
			continue
		case r.Tables.Ended(op.Kind, current):
			continue
		}
		// Recorded before it is applied: a crash in between leaves a
		// record of a version the cluster does not hold yet, never the
		// other way round.
		if err := r.record(fs, commit, op, obj, false); err != nil {
			return nil, err
		}
		adm := admission(op)
		annotations := map[string]string{
			v1.AnnotationBlob: op.Blob, v1.AnnotationPath: op.Path, v1.AnnotationGates: adm.Encode(),
			v1.AnnotationApprovals: approvalsMessage(op.Decision),
		}
		if err := r.serverSideApply(ctx, obj, op.Kind, labels, annotations); err != nil {
			return nil, err
		}
	}
	// Every operation of the source is recorded: one that matches no
	// record is not from it.
	r.Provenance.Verified(fs.Namespace, fs.Name)
	return deferred, r.markRemoved(ctx, fs.Namespace, plan.Site, inGit)
}

// recordInFlight records the version of an operation in flight whose
// newer version waits, when the record does not know it (a restart with an
// empty state directory) and the verified history holds it. An operation
// not found there is left unrecorded: its controller stops it with
// NotFromSource.
func (r *Reconciler) recordInFlight(fs *v1.FleetSource, kind string, current v1.Operation, past *history) error {
	if r.Provenance.Check(kind, current).OK() || past == nil {
		return nil
	}
	v, err := past.version(kind, current)
	if err != nil {
		return nil // not in the verified history: the operation controller refuses it
	}
	v.Recorded = r.now()
	return r.Provenance.Record(fs.Namespace, fs.Name, kind, current.GetName(), v)
}

// record enters the version of op at commit, with its admission verdict,
// in the provenance record; started marks it as past its gates.
func (r *Reconciler) record(fs *v1.FleetSource, commit string, op gather.OperationPlan, obj v1.Operation, started bool) error {
	digest, err := provenance.SpecDigest(obj)
	if err != nil {
		return fmt.Errorf("digest of %s %s: %w", op.Kind, obj.GetName(), err)
	}
	v := provenance.Version{Commit: commit, Path: op.Path, Blob: op.Blob, Digest: digest, Admission: admission(op), Recorded: r.now(), Started: started}
	return r.Provenance.Record(fs.Namespace, fs.Name, op.Kind, obj.GetName(), v)
}

// admission turns the admission gates' decision into the annotation.
func admission(op gather.OperationPlan) v1.Admission {
	a := v1.Admission{Allowed: op.Decision.Allowed, Blob: op.Blob}
	var msgs []string
	for _, v := range op.Decision.Blocking() {
		if a.Reason == "" {
			a.Reason = string(v.Reason)
		}
		msgs = append(msgs, v.Message)
	}
	if a.Allowed {
		msgs = []string{approvalsMessage(op.Decision)}
	}
	a.Message = strings.Join(msgs, "; ")
	return a
}

func approvalsMessage(d gates.Decision) string {
	for _, v := range d.Verdicts {
		if v.Gate == "approvals" {
			return v.Message
		}
	}
	return ""
}

func (r *Reconciler) serverSideApply(ctx context.Context, obj client.Object, kind string, labels, annotations map[string]string) error {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: m}
	delete(u.Object, "status")
	u.SetAPIVersion(v1.GroupVersion.String())
	u.SetKind(kind)
	u.SetManagedFields(nil)
	u.SetResourceVersion("")
	u.SetLabels(labels)
	if annotations != nil {
		u.SetAnnotations(annotations)
	}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s: %w", kind, client.ObjectKeyFromObject(obj), err)
	}
	return nil
}

// markRemoved annotates the site's operations that are no longer in git;
// their controllers finish or halt them, then delete them.
func (r *Reconciler) markRemoved(ctx context.Context, namespace, site string, inGit map[string]bool) error {
	for _, k := range v1.Registry {
		l := k.NewList()
		if err := r.Client.List(ctx, l, client.InNamespace(namespace), client.MatchingLabels{v1.LabelSite: site}); err != nil {
			return err
		}
		for _, obj := range l.Operations() {
			if inGit[k.Kind+"/"+obj.GetName()] || obj.GetAnnotations()[v1.AnnotationRemoved] != "" {
				continue
			}
			patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
			ann := obj.GetAnnotations()
			if ann == nil {
				ann = map[string]string{}
			}
			ann[v1.AnnotationRemoved] = r.now().UTC().Format(time.RFC3339)
			obj.SetAnnotations(ann)
			if err := r.Client.Patch(ctx, obj, patch); err != nil {
				return fmt.Errorf("mark %s %s removed: %w", k.Kind, obj.GetName(), err)
			}
		}
	}
	return nil
}

// inFlight reports whether the operation has started and not stopped:
// its spec must not change under it.
func (r *Reconciler) inFlight(kind string, op v1.Operation) bool {
	return r.Tables.InFlight(kind, op)
}

func short(s string) string {
	if s == "" {
		return "nothing (no commit applied yet)"
	}
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func equalStatus(a, b *v1.FleetSourceStatus) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
