package fleetsource

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/go-git/go-git/v5/plumbing"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/gates"
	"github.com/nodewright/nodewright/gates/gather"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/source"
	"github.com/nodewright/nodewright/source/mirror"
	"github.com/nodewright/nodewright/source/trust"
)

// FieldOwner is the server-side apply field manager of what the
// controller applies.
const FieldOwner = "nodewright-fleetsource"

// Condition reasons of a FleetSource, besides the DESIGN reason codes
// that a refused range sets.
const (
	// ReasonApplied: the accepted commit's site is applied.
	ReasonApplied = "Applied"
	// ReasonFetchFailed: the repository could not be read; retried.
	ReasonFetchFailed = "FetchFailed"
	// ReasonApplyFailed: the API server refused an apply; retried.
	ReasonApplyFailed = "ApplyFailed"
	// ReasonInvalidManifest: the accepted commit's site does not validate;
	// the last applied commit stays.
	ReasonInvalidManifest = "InvalidManifest"
	// ReasonWrongSite: the FleetSource names a site this reconciler does
	// not serve.
	ReasonWrongSite = "WrongSite"
	// ReasonTrustRootUnreadable: the trust root cannot be read or parsed.
	ReasonTrustRootUnreadable = "TrustRootUnreadable"
)

// Reconciler reconciles FleetSources.
type Reconciler struct {
	// Client is the manager's client.
	Client client.Client
	// Reader reads Secrets uncached.
	Reader client.Reader
	// StateDir holds one state directory per FleetSource (a cache: the
	// ratchet is the status' lastAcceptedCommit).
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
	// Applied, when set, is called with each FleetSource and the commit
	// applied (benchmarks and the demo watch it).
	Applied func(name string, commit string)
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile is the skeleton: fetch → verify → render and gate → apply →
// status. Every exit sets the Ready condition with the reason.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	fs := &v1.FleetSource{}
	if err := r.Client.Get(ctx, req.NamespacedName, fs); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	spec := fs.DeepCopy()
	v1.Default(spec)
	interval := spec.Spec.Interval.Duration
	before := fs.Status.DeepCopy()

	outcome := r.sync(ctx, fs, spec)
	if outcome.reason != ReasonApplied {
		conditions.MarkFalse(fs, "Ready", outcome.reason, "%s", outcome.message)
		if outcome.stall {
			conditions.MarkTrue(fs, "Stalled", outcome.reason, "%s", outcome.message)
		} else {
			conditions.Delete(fs, "Stalled")
		}
		log.Info("not applied", "reason", outcome.reason, "message", outcome.message)
	} else {
		conditions.MarkTrue(fs, "Ready", outcome.reason, "%s", outcome.message)
		conditions.Delete(fs, "Stalled")
	}
	fs.Status.ObservedGeneration = fs.Generation
	if !equalStatus(before, &fs.Status) {
		if err := r.Client.Status().Update(ctx, fs); err != nil {
			return ctrl.Result{}, err
		}
	}
	if outcome.err != nil {
		return ctrl.Result{}, outcome.err
	}
	return ctrl.Result{RequeueAfter: interval}, nil
}

type outcome struct {
	reason, message string
	stall           bool
	err             error
}

func (r *Reconciler) sync(ctx context.Context, fs, spec *v1.FleetSource) outcome {
	if r.Site != "" && spec.Spec.Site != r.Site {
		return outcome{reason: ReasonWrongSite, stall: true, message: fmt.Sprintf("this reconciler serves site %s, not %s", r.Site, spec.Spec.Site)}
	}
	root, err := r.trustRoot(ctx, spec)
	if err != nil {
		return outcome{reason: ReasonTrustRootUnreadable, stall: true, message: err.Error()}
	}
	stateDir := filepath.Join(r.StateDir, fs.Namespace, fs.Name)
	src := &source.Source{Repo: spec.Spec.Repo, Branch: spec.Spec.Branch, StateDir: stateDir, Root: root, Now: r.Now}
	if c := fs.Status.LastAcceptedCommit; c != "" {
		src.Floor, src.FloorPolicyVersion = plumbing.NewHash(c), fs.Status.PolicyVersion
	}
	res, err := src.Sync(ctx)
	if err != nil {
		return outcome{reason: ReasonFetchFailed, message: err.Error()}
	}
	if !res.Accepted() {
		msgs := make([]string, len(res.Refusals))
		for i, ref := range res.Refusals {
			msgs[i] = ref.Message
		}
		return outcome{reason: string(res.Refusals[0].Code), message: strings.Join(msgs, "; ") + "; keeping " + short(fs.Status.AppliedCommit)}
	}
	fs.Status.LastAcceptedCommit, fs.Status.PolicyVersion = res.Tip.String(), res.Policy.Version

	m, err := mirror.Open(filepath.Join(stateDir, "mirror"))
	if err != nil {
		return outcome{reason: ReasonFetchFailed, err: err, message: err.Error()}
	}
	defer m.Close()
	index, err := source.LoadIndex(stateDir)
	if err != nil {
		return outcome{reason: ReasonFetchFailed, err: err, message: err.Error()}
	}
	stale := ""
	if res.Stale != nil {
		stale = res.Stale.Message
	}
	plan, err := gather.Build(gather.Inputs{
		Repo: m.Repository(), Commit: res.Tip, Site: spec.Spec.Site, Policy: res.Policy, Index: index,
		Stale: stale, Now: r.now(), Chain: gates.Admission,
	})
	if err != nil {
		return outcome{reason: ReasonInvalidManifest, stall: true, message: err.Error()}
	}
	if n := plan.Problems.Errors(); n > 0 || plan.Profile == nil {
		var first []string
		for _, p := range plan.Problems {
			if len(first) < 3 {
				first = append(first, p.String())
			}
		}
		return outcome{reason: ReasonInvalidManifest, stall: true, message: fmt.Sprintf("commit %s: %d problems, nothing applied (first: %s); keeping %s", short(res.Tip.String()), n, strings.Join(first, "; "), short(fs.Status.AppliedCommit))}
	}
	deferred, err := r.apply(ctx, fs, res.Tip.String(), plan)
	if err != nil {
		return outcome{reason: ReasonApplyFailed, err: err, message: err.Error()}
	}
	fs.Status.AppliedCommit = res.Tip.String()
	if r.Applied != nil {
		r.Applied(fs.Name, res.Tip.String())
	}
	msg := fmt.Sprintf("applied %d operations of site %s at commit %s (trust policy version %d)", len(plan.Operations), spec.Spec.Site, short(res.Tip.String()), res.Policy.Version)
	if len(deferred) > 0 {
		msg += "; changes to operations in flight wait until they finish or halt: " + strings.Join(deferred, ", ")
	}
	if stale != "" {
		msg += "; " + stale
	}
	return outcome{reason: ReasonApplied, message: msg}
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
func (r *Reconciler) apply(ctx context.Context, fs *v1.FleetSource, commit string, plan *gather.Plan) ([]string, error) {
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
			}
			continue
		case r.Tables.Ended(op.Kind, current):
			continue
		}
		adm := admission(op)
		raw, _ := json.Marshal(adm)
		annotations := map[string]string{
			v1.AnnotationBlob: op.Blob, v1.AnnotationPath: op.Path, v1.AnnotationGates: string(raw),
			v1.AnnotationApprovals: approvalsMessage(op.Decision),
		}
		if err := r.serverSideApply(ctx, obj, op.Kind, labels, annotations); err != nil {
			return nil, err
		}
	}
	return deferred, r.markRemoved(ctx, fs.Namespace, plan.Site, inGit)
}

// admission turns the admission gates' decision into the annotation.
func admission(op gather.OperationPlan) operation.Admission {
	a := operation.Admission{Allowed: op.Decision.Allowed, Blob: op.Blob}
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
	for kind, l := range operation.Lists() {
		if err := r.Client.List(ctx, l, client.InNamespace(namespace), client.MatchingLabels{v1.LabelSite: site}); err != nil {
			return err
		}
		for _, obj := range operation.Items(l) {
			if inGit[kind+"/"+obj.GetName()] || obj.GetAnnotations()[v1.AnnotationRemoved] != "" {
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
				return fmt.Errorf("mark %s %s removed: %w", kind, obj.GetName(), err)
			}
		}
	}
	return nil
}

// inFlight reports whether the operation has started and not stopped:
// its spec must not change under it.
func (r *Reconciler) inFlight(kind string, op v1.Operation) bool {
	switch phase.Phase(op.OperationStatus().Phase) {
	case "", phase.Pending, phase.AwaitingApproval, phase.Halted:
		return false
	}
	return !r.Tables.Ended(kind, op)
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
