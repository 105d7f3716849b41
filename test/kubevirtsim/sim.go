package kubevirtsim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CRDDir is the directory (relative to the module root) of the test CRDs
// for the KubeVirt and CDI kinds; pass it to envtest beside
// config/crd/bases.
const CRDDir = "test/kubevirt/crds"

// AnnotationLiveMigratable is set by AddVM on a VirtualMachine: "true"
// when its VMIs are live-migratable. The stand-in reads it when it starts
// the VM again.
const AnnotationLiveMigratable = "kubevirtsim.nodewright.io/live-migratable"

// Sim is the stand-in for virt-controller in one namespace, over the
// nodes it was given. It is safe for concurrent use.
type Sim struct {
	client    client.Client
	namespace string
	nodes     []string

	mu     sync.Mutex
	fail   map[string]string // VMI name -> failure reason of its next migrations
	stall  map[string]bool   // VMI name -> migrations held
	events []string
}

// New returns a stand-in for virt-controller acting on the objects of
// namespace, placing VMs and migration targets on nodes (which must exist
// as Node objects; a cordoned one takes nothing).
func New(c client.Client, namespace string, nodes ...string) *Sim {
	return &Sim{client: c, namespace: namespace, nodes: slices.Clone(nodes), fail: map[string]string{}, stall: map[string]bool{}}
}

// FailMigrations makes every migration of the VMI fail at its next Step
// with reason as KubeVirt's failure reason, until cleared with "".
func (s *Sim) FailMigrations(vmi, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason == "" {
		delete(s.fail, vmi)
		return
	}
	s.fail[vmi] = reason
}

// Stall holds (true) or frees (false) the migrations of the VMI in their
// phase.
func (s *Sim) Stall(vmi string, stall bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if stall {
		s.stall[vmi] = true
	} else {
		delete(s.stall, vmi)
	}
}

// Events returns what the stand-in did so far, oldest first: "migration
// <name> Running", "stopped <vm>", "started <vm> on <node>".
func (s *Sim) Events() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

func (s *Sim) logf(format string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, fmt.Sprintf(format, a...))
}

// AddVM creates a VirtualMachine (run strategy Always) and its running
// VirtualMachineInstance on node, whose LiveMigratable condition is live.
func (s *Sim) AddVM(ctx context.Context, name, node string, live bool) (*kubevirtv1.VirtualMachine, error) {
	vm := &kubevirtv1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: name,
			Annotations: map[string]string{AnnotationLiveMigratable: fmt.Sprint(live)}},
		Spec: kubevirtv1.VirtualMachineSpec{RunStrategy: new(kubevirtv1.RunStrategyAlways)},
	}
	if err := s.client.Create(ctx, vm); err != nil {
		return nil, fmt.Errorf("stand-in: create VirtualMachine %s: %w", name, err)
	}
	if _, err := s.startVMI(ctx, vm, node); err != nil {
		return nil, err
	}
	return vm, nil
}

// AddVMI creates a running VirtualMachineInstance of its own (no
// VirtualMachine) on node.
func (s *Sim) AddVMI(ctx context.Context, name, node string, live bool) (*kubevirtv1.VirtualMachineInstance, error) {
	vmi := &kubevirtv1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: name}}
	return vmi, s.createVMI(ctx, vmi, node, live)
}

// startVMI creates the VM's VMI on node, owned by the VM.
func (s *Sim) startVMI(ctx context.Context, vm *kubevirtv1.VirtualMachine, node string) (*kubevirtv1.VirtualMachineInstance, error) {
	vmi := &kubevirtv1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{
		Namespace: s.namespace, Name: vm.Name,
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: kubevirtv1.SchemeGroupVersion.String(), Kind: "VirtualMachine",
			Name: vm.Name, UID: vm.UID, Controller: new(true), BlockOwnerDeletion: new(true),
		}},
	}}
	return vmi, s.createVMI(ctx, vmi, node, vm.Annotations[AnnotationLiveMigratable] == "true")
}

func (s *Sim) createVMI(ctx context.Context, vmi *kubevirtv1.VirtualMachineInstance, node string, live bool) error {
	if vmi.Labels == nil {
		vmi.Labels = map[string]string{}
	}
	vmi.Labels[kubevirtv1.NodeNameLabel] = node
	if err := s.client.Create(ctx, vmi); err != nil {
		return fmt.Errorf("stand-in: create VirtualMachineInstance %s: %w", vmi.Name, err)
	}
	status := corev1.ConditionFalse
	reason := kubevirtv1.VirtualMachineInstanceReasonDisksNotMigratable
	if live {
		status, reason = corev1.ConditionTrue, ""
	}
	vmi.Status = kubevirtv1.VirtualMachineInstanceStatus{
		Phase: kubevirtv1.Running, NodeName: node,
		Conditions: []kubevirtv1.VirtualMachineInstanceCondition{
			{Type: kubevirtv1.VirtualMachineInstanceReady, Status: corev1.ConditionTrue},
			{Type: kubevirtv1.VirtualMachineInstanceIsMigratable, Status: status, Reason: reason},
		},
	}
	if err := s.client.Status().Update(ctx, vmi); err != nil {
		return fmt.Errorf("stand-in: status of VirtualMachineInstance %s: %w", vmi.Name, err)
	}
	return nil
}

// Step does one round of virt-controller's work: every unfinished
// migration moves one phase (unless stalled or waiting for a target),
// then every VM asked to stop loses its VMI and every VM that should run
// and has none gets one.
func (s *Sim) Step(ctx context.Context) error {
	if err := s.stepMigrations(ctx); err != nil {
		return err
	}
	return s.stepVMs(ctx)
}

func (s *Sim) vmis(ctx context.Context) (map[string]*kubevirtv1.VirtualMachineInstance, error) {
	list := &kubevirtv1.VirtualMachineInstanceList{}
	if err := s.client.List(ctx, list, client.InNamespace(s.namespace)); err != nil {
		return nil, fmt.Errorf("stand-in: list VirtualMachineInstances: %w", err)
	}
	out := map[string]*kubevirtv1.VirtualMachineInstance{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out, nil
}

// target picks the schedulable node other than not with the fewest VMIs
// of the namespace, the first in order on a tie, or "".
func (s *Sim) target(ctx context.Context, not string, vmis map[string]*kubevirtv1.VirtualMachineInstance) (string, error) {
	load := map[string]int{}
	for _, vmi := range vmis {
		if !vmi.IsFinal() {
			load[vmi.Status.NodeName]++
		}
	}
	best := ""
	for _, name := range s.nodes {
		if name == not {
			continue
		}
		n := &corev1.Node{}
		if err := s.client.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return "", fmt.Errorf("stand-in: get node %s: %w", name, err)
		}
		if n.Spec.Unschedulable {
			continue
		}
		if best == "" || load[name] < load[best] {
			best = name
		}
	}
	return best, nil
}

func (s *Sim) stepMigrations(ctx context.Context) error {
	list := &kubevirtv1.VirtualMachineInstanceMigrationList{}
	if err := s.client.List(ctx, list, client.InNamespace(s.namespace)); err != nil {
		return fmt.Errorf("stand-in: list VirtualMachineInstanceMigrations: %w", err)
	}
	slices.SortFunc(list.Items, func(a, b kubevirtv1.VirtualMachineInstanceMigration) int { return strings.Compare(a.Name, b.Name) })
	for i := range list.Items {
		m := &list.Items[i]
		if m.IsFinal() {
			continue
		}
		vmis, err := s.vmis(ctx)
		if err != nil {
			return err
		}
		if err := s.stepMigration(ctx, m, vmis[m.Spec.VMIName]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sim) stepMigration(ctx context.Context, m *kubevirtv1.VirtualMachineInstanceMigration, vmi *kubevirtv1.VirtualMachineInstance) error {
	s.mu.Lock()
	reason, failing := s.fail[m.Spec.VMIName]
	stalled := s.stall[m.Spec.VMIName]
	s.mu.Unlock()
	if stalled {
		return nil
	}
	now := metav1.Now()
	if vmi == nil || vmi.IsFinal() {
		failing, reason = true, "the VMI "+m.Spec.VMIName+" does not run"
	}
	state := m.Status.MigrationState
	if state == nil {
		state = &kubevirtv1.VirtualMachineInstanceMigrationState{MigrationUID: m.UID}
		if vmi != nil {
			state.SourceNode = vmi.Status.NodeName
		}
	}
	var next kubevirtv1.VirtualMachineInstanceMigrationPhase
	switch {
	case failing:
		next = kubevirtv1.MigrationFailed
		state.Failed, state.FailureReason, state.EndTimestamp = true, reason, &now
	case m.Status.Phase == kubevirtv1.MigrationPhaseUnset:
		next = kubevirtv1.MigrationPending
	case m.Status.Phase == kubevirtv1.MigrationPending:
		next = kubevirtv1.MigrationScheduling
	case m.Status.Phase == kubevirtv1.MigrationScheduling:
		vmis, err := s.vmis(ctx)
		if err != nil {
			return err
		}
		to, err := s.target(ctx, vmi.Status.NodeName, vmis)
		if err != nil {
			return err
		}
		if to == "" {
			return nil // the target pod stays Pending: no node takes it
		}
		next = kubevirtv1.MigrationRunning
		state.TargetNode, state.StartTimestamp = to, &now
	case m.Status.Phase == kubevirtv1.MigrationRunning:
		next = kubevirtv1.MigrationSucceeded
		state.Completed, state.EndTimestamp = true, &now
	default:
		return nil
	}
	if vmi != nil && (next == kubevirtv1.MigrationRunning || next == kubevirtv1.MigrationSucceeded || next == kubevirtv1.MigrationFailed) {
		vmi.Status.MigrationState = state.DeepCopy()
		if next == kubevirtv1.MigrationSucceeded {
			vmi.Status.NodeName = state.TargetNode
		}
		if err := s.client.Status().Update(ctx, vmi); err != nil {
			return fmt.Errorf("stand-in: status of VirtualMachineInstance %s: %w", vmi.Name, err)
		}
		if next == kubevirtv1.MigrationSucceeded {
			vmi.Labels[kubevirtv1.NodeNameLabel] = state.TargetNode
			if err := s.client.Update(ctx, vmi); err != nil {
				return fmt.Errorf("stand-in: label VirtualMachineInstance %s: %w", vmi.Name, err)
			}
		}
	}
	m.Status.Phase, m.Status.MigrationState = next, state
	m.Status.PhaseTransitionTimestamps = append(m.Status.PhaseTransitionTimestamps,
		kubevirtv1.VirtualMachineInstanceMigrationPhaseTransitionTimestamp{Phase: next, PhaseTransitionTimestamp: now})
	if err := s.client.Status().Update(ctx, m); err != nil {
		return fmt.Errorf("stand-in: status of VirtualMachineInstanceMigration %s: %w", m.Name, err)
	}
	s.logf("migration %s %s", m.Name, next)
	return nil
}

// wantsRunning reports whether the VM's spec asks for a running VMI
// (Always or RerunOnFailure, or spec.running true); Manual keeps what is.
func wantsRunning(vm *kubevirtv1.VirtualMachine) (want, halt bool) {
	rs, err := vm.RunStrategy()
	if err != nil {
		return false, false
	}
	switch rs {
	case kubevirtv1.RunStrategyAlways, kubevirtv1.RunStrategyRerunOnFailure:
		return true, false
	case kubevirtv1.RunStrategyHalted:
		return false, true
	}
	return false, false
}

func (s *Sim) stepVMs(ctx context.Context) error {
	list := &kubevirtv1.VirtualMachineList{}
	if err := s.client.List(ctx, list, client.InNamespace(s.namespace)); err != nil {
		return fmt.Errorf("stand-in: list VirtualMachines: %w", err)
	}
	slices.SortFunc(list.Items, func(a, b kubevirtv1.VirtualMachine) int { return strings.Compare(a.Name, b.Name) })
	for i := range list.Items {
		vm := &list.Items[i]
		vmis, err := s.vmis(ctx)
		if err != nil {
			return err
		}
		vmi := vmis[vm.Name]
		switch want, halt := wantsRunning(vm); {
		case halt && vmi != nil:
			if err := s.client.Delete(ctx, vmi); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("stand-in: delete VirtualMachineInstance %s: %w", vmi.Name, err)
			}
			s.logf("stopped %s", vm.Name)
		case want && vmi == nil:
			node, err := s.target(ctx, "", vmis)
			if err != nil {
				return err
			}
			if node == "" {
				continue // unschedulable: stays stopped until a node is free
			}
			if _, err := s.startVMI(ctx, vm, node); err != nil {
				return err
			}
			s.logf("started %s on %s", vm.Name, node)
		}
	}
	return nil
}

// ErrNoVMI is returned by VMINode for a VM without a VMI.
var ErrNoVMI = errors.New("stand-in: no VirtualMachineInstance")

// VMINode returns the node the named VMI runs on, or ErrNoVMI.
func (s *Sim) VMINode(ctx context.Context, name string) (string, error) {
	vmi := &kubevirtv1.VirtualMachineInstance{}
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: name}, vmi); err != nil {
		if apierrors.IsNotFound(err) {
			return "", ErrNoVMI
		}
		return "", fmt.Errorf("stand-in: get VirtualMachineInstance %s: %w", name, err)
	}
	return vmi.Status.NodeName, nil
}
