package kubevirt

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/reconciler/backend"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Marks Nodewright leaves on the objects it changes, so that a later call
// (after a crash, or Release) knows what it did and undoes only that.
const (
	// AnnotationCordoned is set ("true") on a Node that Evacuate cordoned;
	// Release uncordons only a Node that carries it.
	AnnotationCordoned = "nodewright.io/cordoned"
	// AnnotationEvacuation holds the token of the evacuation under way on a
	// Node (the Node's resourceVersion when it began). Migration names
	// derive from it, so a repeated Evacuate finds its own migrations and
	// a later evacuation of the same node makes new ones. Release removes
	// it.
	AnnotationEvacuation = "nodewright.io/evacuation"
	// LabelEvacuation is set on every VirtualMachineInstanceMigration that
	// Evacuate creates; its value is a hash of the node and the
	// evacuation's token.
	LabelEvacuation = "nodewright.io/evacuation"
	// LabelManagedBy is the well-known label naming the manager of an
	// object; Evacuate sets it to ManagedBy on its migrations.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is LabelManagedBy's value on Nodewright's objects.
	ManagedBy = "nodewright"
	// LabelStopped is set ("true") on a VirtualMachine that Evacuate
	// stopped, so Release finds it.
	LabelStopped = "nodewright.io/stopped"
	// AnnotationStoppedOn names the node a VirtualMachine ran on when
	// Evacuate stopped it.
	AnnotationStoppedOn = "nodewright.io/stopped-on"
	// AnnotationRunStrategy holds the run strategy a VirtualMachine had
	// before Evacuate stopped it (RunStrategyRunning when it used the old
	// spec.running field); Release restores it.
	AnnotationRunStrategy = "nodewright.io/previous-run-strategy"
	// RunStrategyRunning is AnnotationRunStrategy's value for a
	// VirtualMachine that said spec.running: true.
	RunStrategyRunning = "spec.running"
)

// AddToScheme registers the KubeVirt types the Evacuator reads and
// writes (kubevirt.io/v1). The scheme must hold client-go's types too.
var AddToScheme = kubevirtv1.AddToScheme

// Evacuator is the VM protection of node operations over KubeVirt: a
// backend.Evacuator that cordons the node, live-migrates its
// VirtualMachineInstances with VirtualMachineInstanceMigrations, or
// stops their VirtualMachines where the operation allows it. Every call
// observes once and returns; it is safe for concurrent use as far as its
// client is.
type Evacuator struct {
	client client.Client
}

var _ backend.Evacuator = (*Evacuator)(nil)

// New returns an Evacuator over c, whose scheme holds client-go's types
// and those of AddToScheme.
func New(c client.Client) *Evacuator { return &Evacuator{client: c} }

// vmiKey is "namespace/name".
func vmiKey(o metav1.Object) string { return o.GetNamespace() + "/" + o.GetName() }

// onNode reports whether the VMI runs (or is being started) on node: its
// status names the node and it has not finished.
func onNode(vmi *kubevirtv1.VirtualMachineInstance, node string) bool {
	return vmi.Status.NodeName == node && !vmi.IsFinal()
}

// ownerVM returns the name of the VirtualMachine that controls the VMI,
// or "" for a VMI of its own.
func ownerVM(vmi *kubevirtv1.VirtualMachineInstance) string {
	for _, o := range vmi.OwnerReferences {
		if o.Kind == "VirtualMachine" && o.Controller != nil && *o.Controller {
			return o.Name
		}
	}
	return ""
}

// hash returns the first n hex digits of the SHA-256 of parts joined.
func hash(n int, parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:])[:n]
}

// evacuationLabel is LabelEvacuation's value for the node's evacuation
// with token.
func evacuationLabel(node, token string) string { return hash(16, node, token) }

// MigrationName is the name of the migration Evacuate creates for the
// VMI during the node's evacuation with token: the same for every call of
// that evacuation, so the migration is created once, and new for the next
// evacuation or a new VMI of the same name.
func MigrationName(vmi *kubevirtv1.VirtualMachineInstance, node, token string) string {
	prefix := vmi.Name
	if len(prefix) > 200 {
		prefix = strings.TrimRight(prefix[:200], "-.")
	}
	return prefix + "-evac-" + hash(10, vmi.Namespace, vmi.Name, string(vmi.UID), node, token)
}

// refuse is the halting error of Evacuate for the VMI.
func refuse(vmi *kubevirtv1.VirtualMachineInstance, node, format string, a ...any) error {
	return &backend.RefusedError{
		Op:      fmt.Sprintf("protect VM %s on %s", vmiKey(vmi), node),
		Message: fmt.Sprintf(format, a...),
	}
}

// notMigratable says why the VMI cannot move live, from its LiveMigratable
// condition.
func notMigratable(vmi *kubevirtv1.VirtualMachineInstance) string {
	for _, c := range vmi.Status.Conditions {
		if c.Type == kubevirtv1.VirtualMachineInstanceIsMigratable {
			why := string(c.Status)
			if c.Reason != "" {
				why += ", " + c.Reason
			}
			if c.Message != "" {
				why += ": " + c.Message
			}
			return "its LiveMigratable condition is " + why
		}
	}
	return "it has no LiveMigratable condition"
}

// Evacuate moves the VMs off node as protection says and keeps new ones
// off it. None changes nothing and is done at once. LiveMigrate and
// Shutdown cordon the node first, then for each VirtualMachineInstance
// running there: one that is live-migratable gets a
// VirtualMachineInstanceMigration (created once per evacuation) that
// this call follows; under Shutdown one that is not has its
// VirtualMachine stopped (run strategy Halted, the old one kept for
// Release); under LiveMigrate one that is not is a *backend.RefusedError
// naming the VM, returned before anything is changed. A failed migration
// is a RefusedError naming the VM and the migration's phase; deleting the
// migration lets the next call try again. It is done once no VMI runs on
// the node. An unknown node is a *backend.NotFoundError; API errors are
// returned as they are (transient).
func (e *Evacuator) Evacuate(ctx context.Context, node string, protection v1.VMProtection) (backend.Progress, error) {
	switch protection {
	case v1.VMProtectionNone:
		return backend.Progress{Done: true, Message: fmt.Sprintf("vmProtection None: the VMs stay on %s", node)}, nil
	case v1.VMProtectionLiveMigrate, v1.VMProtectionShutdown:
	default:
		return backend.Progress{}, &backend.RefusedError{Op: "protect VMs on " + node, Message: fmt.Sprintf("unknown vmProtection %q", protection)}
	}
	n := &corev1.Node{}
	if err := e.client.Get(ctx, client.ObjectKey{Name: node}, n); err != nil {
		if apierrors.IsNotFound(err) {
			return backend.Progress{}, &backend.NotFoundError{Kind: "node", Name: node}
		}
		return backend.Progress{}, fmt.Errorf("kubevirt: get node %s: %w", node, err)
	}
	vmis, err := e.vmis(ctx)
	if err != nil {
		return backend.Progress{}, err
	}
	var here []*kubevirtv1.VirtualMachineInstance
	for _, vmi := range vmis {
		if onNode(vmi, node) {
			here = append(here, vmi)
		}
	}
	token := n.Annotations[AnnotationEvacuation]
	migrations, err := e.migrations(ctx, node, token)
	if err != nil {
		return backend.Progress{}, err
	}
	vms := map[string]*kubevirtv1.VirtualMachine{}
	for _, vmi := range here {
		if _, ok := migrations[MigrationName(vmi, node, token)]; ok {
			continue
		}
		owner := ownerVM(vmi)
		if owner != "" {
			vm := &kubevirtv1.VirtualMachine{}
			switch err := e.client.Get(ctx, client.ObjectKey{Namespace: vmi.Namespace, Name: owner}, vm); {
			case apierrors.IsNotFound(err):
			case err != nil:
				return backend.Progress{}, fmt.Errorf("kubevirt: get VirtualMachine %s/%s: %w", vmi.Namespace, owner, err)
			default:
				vms[vmiKey(vmi)] = vm
			}
		}
		vm := vms[vmiKey(vmi)]
		if vmi.IsMigratable() || (vm != nil && vm.Labels[LabelStopped] == "true") {
			continue
		}
		if protection != v1.VMProtectionShutdown {
			return backend.Progress{}, refuse(vmi, node, "it cannot move live (%s) and vmProtection %s does not allow stopping it; make it live-migratable, stop it, or use vmProtection Shutdown", notMigratable(vmi), protection)
		}
		if vm == nil {
			return backend.Progress{}, refuse(vmi, node, "it cannot move live (%s) and has no VirtualMachine to stop and start again; stop it or make it live-migratable", notMigratable(vmi))
		}
	}
	cordon, err := e.cordon(ctx, n)
	if err != nil {
		return backend.Progress{}, err
	}
	token = n.Annotations[AnnotationEvacuation]

	var parts []string
	for _, vmi := range here {
		key := vmiKey(vmi)
		name := MigrationName(vmi, node, token)
		m, ok := migrations[name]
		vm := vms[key]
		switch {
		case ok || (vmi.IsMigratable() && (vm == nil || vm.Labels[LabelStopped] != "true")):
			if !ok {
				if m, err = e.migrate(ctx, vmi, node, token, name); err != nil {
					return backend.Progress{}, err
				}
				migrations[name] = m
			}
			switch m.Status.Phase {
			case kubevirtv1.MigrationFailed:
				return backend.Progress{}, refuse(vmi, node, "its live migration %s/%s is in phase %s%s; delete that migration to try again, or stop the VM", m.Namespace, m.Name, m.Status.Phase, failure(vmi, m))
			case kubevirtv1.MigrationSucceeded:
				parts = append(parts, key+" migrated (Succeeded; its VMI still names "+node+")")
			case kubevirtv1.MigrationPhaseUnset:
				parts = append(parts, key+" migrating (created)")
			default:
				parts = append(parts, fmt.Sprintf("%s migrating (%s)", key, m.Status.Phase))
			}
		default:
			stopped, err := e.stop(ctx, vm, node)
			if err != nil {
				return backend.Progress{}, err
			}
			parts = append(parts, key+" "+stopped)
		}
	}
	done := len(here) == 0
	// Report what is off the node already: VMs migrated by this evacuation
	// and VMs stopped by it.
	byKey := map[string]*kubevirtv1.VirtualMachineInstance{}
	for _, vmi := range vmis {
		byKey[vmiKey(vmi)] = vmi
	}
	for _, m := range sortedMigrations(migrations) {
		vmi := byKey[m.Namespace+"/"+m.Spec.VMIName]
		if m.Status.Phase != kubevirtv1.MigrationSucceeded || (vmi != nil && onNode(vmi, node)) {
			continue
		}
		to := ""
		if vmi != nil && vmi.Status.NodeName != "" {
			to = " to " + vmi.Status.NodeName
		}
		parts = append(parts, m.Namespace+"/"+m.Spec.VMIName+" migrated"+to)
	}
	stopped, err := e.stoppedOn(ctx, node)
	if err != nil {
		return backend.Progress{}, err
	}
	for _, vm := range stopped {
		if vmi := byKey[vmiKey(vm)]; vmi == nil || !onNode(vmi, node) {
			parts = append(parts, vmiKey(vm)+" stopped")
		}
	}
	msg := strings.Join(parts, ", ")
	if done {
		if msg == "" {
			msg = "no VM runs on " + node
		} else {
			msg = "no VM runs on " + node + ": " + msg
		}
		msg += "; " + cordon
	}
	return backend.Progress{Done: done, Message: msg}, nil
}

// failure is the reason KubeVirt gives for the failed migration m of the
// VMI, as ": reason", or "".
func failure(vmi *kubevirtv1.VirtualMachineInstance, m *kubevirtv1.VirtualMachineInstanceMigration) string {
	for _, s := range []*kubevirtv1.VirtualMachineInstanceMigrationState{m.Status.MigrationState, vmi.Status.MigrationState} {
		if s != nil && s.FailureReason != "" && (s.MigrationUID == "" || s.MigrationUID == m.UID) {
			return ": " + s.FailureReason
		}
	}
	return ""
}

// vmis lists every VirtualMachineInstance, sorted by namespace and name.
// A field selector on status.nodeName is not served for custom
// resources, so the node is matched here.
func (e *Evacuator) vmis(ctx context.Context) ([]*kubevirtv1.VirtualMachineInstance, error) {
	list := &kubevirtv1.VirtualMachineInstanceList{}
	if err := e.client.List(ctx, list); err != nil {
		return nil, fmt.Errorf("kubevirt: list VirtualMachineInstances: %w", err)
	}
	out := make([]*kubevirtv1.VirtualMachineInstance, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	slices.SortFunc(out, func(a, b *kubevirtv1.VirtualMachineInstance) int { return strings.Compare(vmiKey(a), vmiKey(b)) })
	return out, nil
}

// migrations returns the migrations of the node's evacuation with token,
// by name; none when token is "" (no evacuation began).
func (e *Evacuator) migrations(ctx context.Context, node, token string) (map[string]*kubevirtv1.VirtualMachineInstanceMigration, error) {
	out := map[string]*kubevirtv1.VirtualMachineInstanceMigration{}
	if token == "" {
		return out, nil
	}
	list := &kubevirtv1.VirtualMachineInstanceMigrationList{}
	if err := e.client.List(ctx, list, client.MatchingLabels{LabelEvacuation: evacuationLabel(node, token)}); err != nil {
		return nil, fmt.Errorf("kubevirt: list VirtualMachineInstanceMigrations: %w", err)
	}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out, nil
}

func sortedMigrations(ms map[string]*kubevirtv1.VirtualMachineInstanceMigration) []*kubevirtv1.VirtualMachineInstanceMigration {
	out := make([]*kubevirtv1.VirtualMachineInstanceMigration, 0, len(ms))
	for _, m := range ms {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *kubevirtv1.VirtualMachineInstanceMigration) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Spec.VMIName, b.Spec.VMIName), strings.Compare(a.Name, b.Name))
	})
	return out
}

// cordon marks the node unschedulable (unless it is already) and records
// the evacuation's token, in one patch guarded by the node's
// resourceVersion, so a crash leaves either both marks or neither. It
// updates n and says how the node is kept free of new VMs.
func (e *Evacuator) cordon(ctx context.Context, n *corev1.Node) (string, error) {
	ours := n.Annotations[AnnotationCordoned] == "true"
	if n.Annotations[AnnotationEvacuation] != "" && (ours || n.Spec.Unschedulable) {
		return cordonMessage(n, ours), nil
	}
	orig := n.DeepCopy()
	if n.Annotations == nil {
		n.Annotations = map[string]string{}
	}
	if n.Annotations[AnnotationEvacuation] == "" {
		n.Annotations[AnnotationEvacuation] = n.ResourceVersion
	}
	if !n.Spec.Unschedulable {
		n.Spec.Unschedulable = true
		n.Annotations[AnnotationCordoned] = "true"
		ours = true
	}
	if err := e.client.Patch(ctx, n, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return "", fmt.Errorf("kubevirt: cordon node %s: %w", n.Name, err)
	}
	return cordonMessage(n, ours), nil
}

func cordonMessage(n *corev1.Node, ours bool) string {
	if ours {
		return n.Name + " cordoned"
	}
	return n.Name + " was cordoned already (not by Nodewright; Release leaves it so)"
}

// migrate creates the VMI's migration of this evacuation; one created by
// an earlier call (that crashed before it reported) is read instead.
func (e *Evacuator) migrate(ctx context.Context, vmi *kubevirtv1.VirtualMachineInstance, node, token, name string) (*kubevirtv1.VirtualMachineInstanceMigration, error) {
	m := &kubevirtv1.VirtualMachineInstanceMigration{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: vmi.Namespace, Name: name,
			Labels: map[string]string{LabelManagedBy: ManagedBy, LabelEvacuation: evacuationLabel(node, token)},
		},
		Spec: kubevirtv1.VirtualMachineInstanceMigrationSpec{VMIName: vmi.Name},
	}
	err := e.client.Create(ctx, m)
	if apierrors.IsAlreadyExists(err) {
		err = e.client.Get(ctx, client.ObjectKeyFromObject(m), m)
	}
	if err != nil {
		return nil, fmt.Errorf("kubevirt: create VirtualMachineInstanceMigration %s/%s: %w", vmi.Namespace, name, err)
	}
	return m, nil
}

// stop asks the VM to stop (run strategy Halted, or spec.running false for
// a VM that uses that field), recording in the same patch the old
// strategy and the node, so Release can start it again. A VM already
// asked to stop is left as it is. It says how the VM stands.
func (e *Evacuator) stop(ctx context.Context, vm *kubevirtv1.VirtualMachine, node string) (string, error) {
	if vm.Labels[LabelStopped] == "true" {
		return "stopping", nil
	}
	orig := vm.DeepCopy()
	var prev string
	switch {
	case vm.Spec.Running != nil && !*vm.Spec.Running,
		vm.Spec.Running == nil && vm.Spec.RunStrategy != nil && *vm.Spec.RunStrategy == kubevirtv1.RunStrategyHalted:
		return "stopping (asked by someone else; Release will not start it)", nil
	case vm.Spec.Running != nil:
		prev = RunStrategyRunning
		vm.Spec.Running = new(false)
	default:
		prev = string(kubevirtv1.RunStrategyAlways)
		if vm.Spec.RunStrategy != nil {
			prev = string(*vm.Spec.RunStrategy)
		}
		vm.Spec.RunStrategy = new(kubevirtv1.RunStrategyHalted)
	}
	if vm.Labels == nil {
		vm.Labels = map[string]string{}
	}
	if vm.Annotations == nil {
		vm.Annotations = map[string]string{}
	}
	vm.Labels[LabelStopped] = "true"
	vm.Annotations[AnnotationStoppedOn] = node
	vm.Annotations[AnnotationRunStrategy] = prev
	if err := e.client.Patch(ctx, vm, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return "", fmt.Errorf("kubevirt: stop VirtualMachine %s: %w", vmiKey(vm), err)
	}
	return "stopping", nil
}

// stoppedOn lists the VMs Evacuate stopped on node, sorted.
func (e *Evacuator) stoppedOn(ctx context.Context, node string) ([]*kubevirtv1.VirtualMachine, error) {
	list := &kubevirtv1.VirtualMachineList{}
	if err := e.client.List(ctx, list, client.MatchingLabels{LabelStopped: "true"}); err != nil {
		return nil, fmt.Errorf("kubevirt: list VirtualMachines: %w", err)
	}
	var out []*kubevirtv1.VirtualMachine
	for i := range list.Items {
		if list.Items[i].Annotations[AnnotationStoppedOn] == node {
			out = append(out, &list.Items[i])
		}
	}
	slices.SortFunc(out, func(a, b *kubevirtv1.VirtualMachine) int { return strings.Compare(vmiKey(a), vmiKey(b)) })
	return out, nil
}

// Release undoes what Evacuate did on node: it uncordons the node when
// Nodewright cordoned it (a node cordoned by someone else stays so),
// drops the evacuation's token, and gives every VM it stopped there its
// old run strategy back, so KubeVirt starts it. Each object's marks go in
// the same patch as its change, so a repeated or resumed call does
// nothing twice. A node without a Node object has nothing to uncordon.
func (e *Evacuator) Release(ctx context.Context, node string) error {
	n := &corev1.Node{}
	switch err := e.client.Get(ctx, client.ObjectKey{Name: node}, n); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("kubevirt: get node %s: %w", node, err)
	case n.Annotations[AnnotationCordoned] != "" || n.Annotations[AnnotationEvacuation] != "":
		orig := n.DeepCopy()
		if n.Annotations[AnnotationCordoned] == "true" {
			n.Spec.Unschedulable = false
		}
		delete(n.Annotations, AnnotationCordoned)
		delete(n.Annotations, AnnotationEvacuation)
		if err := e.client.Patch(ctx, n, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
			return fmt.Errorf("kubevirt: uncordon node %s: %w", node, err)
		}
	}
	stopped, err := e.stoppedOn(ctx, node)
	if err != nil {
		return err
	}
	for _, vm := range stopped {
		if err := e.start(ctx, vm); err != nil {
			return err
		}
	}
	return nil
}

// start restores the run strategy the VM had before Evacuate stopped it
// and drops Nodewright's marks. A VM whose spec someone changed since is
// only unmarked.
func (e *Evacuator) start(ctx context.Context, vm *kubevirtv1.VirtualMachine) error {
	orig := vm.DeepCopy()
	prev := vm.Annotations[AnnotationRunStrategy]
	halted := vm.Spec.Running != nil && !*vm.Spec.Running ||
		vm.Spec.Running == nil && vm.Spec.RunStrategy != nil && *vm.Spec.RunStrategy == kubevirtv1.RunStrategyHalted
	if halted {
		switch prev {
		case RunStrategyRunning:
			vm.Spec.Running, vm.Spec.RunStrategy = new(true), nil
		case "":
		default:
			vm.Spec.Running, vm.Spec.RunStrategy = nil, new(kubevirtv1.VirtualMachineRunStrategy(prev))
		}
	}
	delete(vm.Labels, LabelStopped)
	delete(vm.Annotations, AnnotationStoppedOn)
	delete(vm.Annotations, AnnotationRunStrategy)
	if err := e.client.Patch(ctx, vm, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("kubevirt: start VirtualMachine %s: %w", vmiKey(vm), err)
	}
	return nil
}
