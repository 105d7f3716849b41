package memory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nodewright/nodewright/reconciler/backend"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// DefaultJobSteps is how many observing calls after the starting call a
// long VM job (evacuation, snapshot, migration, stop or start, copy, roll
// back) takes unless SetJobSteps says otherwise.
const DefaultJobSteps = 2

// VM is one simulated virtual machine: how AddVM seeds it and how VMs.VM
// shows it.
type VM struct {
	// Ref names the VM.
	Ref v1.VMReference
	// Node is the node the VM runs (or would run) on.
	Node string
	// Running says whether the VM runs.
	Running bool
	// Live says whether the VM can move live (KubeVirt's LiveMigratable
	// condition); Check reports a move live only for a running, live VM.
	Live bool
	// StorageClass is the class the VM's volumes are on now.
	StorageClass string
	// SourceClass is the class of the source volumes kept after a Swap or
	// MigrateLive, until RollBack points the VM back at them; "" when none.
	SourceClass string
	// Copies are the classes Copy made copies of the volumes in that the
	// VM does not use yet, sorted.
	Copies []string
	// Snapshots are the names of the VM's snapshots, sorted.
	Snapshots []string
}

func (vm *VM) clone() VM {
	out := *vm
	out.Copies = cloneOrNil(vm.Copies)
	out.Snapshots = cloneOrNil(vm.Snapshots)
	return out
}

// cloneOrNil copies s; an empty s gives nil, so views compare equal.
func cloneOrNil(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

func vmName(ref v1.VMReference) string { return ref.Namespace + "/" + ref.Name }

// VMs is a SIMULATED KubeVirt: virtual machines on nodes, with volumes in
// storage classes, snapshots and copies. It implements backend.VMs and is
// safe for concurrent use.
//
// A long job is started by its first call and done on the
// SetJobSteps-th observing call after it; whether a job is needed at all
// follows from the state (a VM already stopped needs no stop), so every
// call is idempotent.
type VMs struct {
	mu       sync.Mutex
	nodes    []string
	classes  []string
	vms      map[v1.VMReference]*VM
	cordoned map[string]bool
	shutDown map[string][]v1.VMReference // node -> VMs Evacuate shut down, for Release to start
	jobs     map[jobKey]int              // job -> observing calls left
	steps    int
	corrupt  map[v1.VMReference]bool
	log      log
}

var _ backend.VMs = (*VMs)(nil)

type jobKey struct {
	method, target, arg string
}

// NewVMs returns a simulated KubeVirt with the given nodes and storage
// classes and no VMs.
func NewVMs(nodes, storageClasses []string) *VMs {
	return &VMs{
		nodes: slices.Clone(nodes), classes: slices.Clone(storageClasses),
		vms: map[v1.VMReference]*VM{}, cordoned: map[string]bool{}, shutDown: map[string][]v1.VMReference{},
		jobs: map[jobKey]int{}, steps: DefaultJobSteps, corrupt: map[v1.VMReference]bool{},
	}
}

// VMsFromProfile returns a simulated KubeVirt seeded from a site profile:
// its nodes and storage classes, and on every node vmsPerNode running,
// live-migratable VMs in namespace named <node>-vm-1, <node>-vm-2, ...
// whose volumes are on the profile's first storage class.
func VMsFromProfile(p *v1.EdgeProfile, namespace string, vmsPerNode int) *VMs {
	if p == nil {
		return NewVMs(nil, nil)
	}
	var nodes, classes []string
	for _, n := range p.Spec.Nodes {
		nodes = append(nodes, n.Name)
	}
	for _, sc := range p.Spec.StorageClasses {
		classes = append(classes, sc.Name)
	}
	v := NewVMs(nodes, classes)
	class := ""
	if len(classes) > 0 {
		class = classes[0]
	}
	for _, n := range nodes {
		for i := 1; i <= vmsPerNode; i++ {
			ref := v1.VMReference{Namespace: namespace, Name: fmt.Sprintf("%s-vm-%d", n, i)}
			v.vms[ref] = &VM{Ref: ref, Node: n, Running: true, Live: true, StorageClass: class}
		}
	}
	return v
}

// AddVM adds (or replaces) a VM. Its node and storage class must be
// known.
func (v *VMs) AddVM(vm VM) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !slices.Contains(v.nodes, vm.Node) {
		return fmt.Errorf("simulated KubeVirt: node %q: %w", vm.Node, ErrNotFound)
	}
	if !slices.Contains(v.classes, vm.StorageClass) {
		return fmt.Errorf("simulated KubeVirt: storage class %q: %w", vm.StorageClass, ErrNotFound)
	}
	c := vm.clone()
	slices.Sort(c.Copies)
	slices.Sort(c.Snapshots)
	v.vms[vm.Ref] = &c
	return nil
}

// VM returns a copy of the named VM's state; it is no call of the
// backend and is not logged.
func (v *VMs) VM(ref v1.VMReference) (VM, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	vm, ok := v.vms[ref]
	if !ok {
		return VM{}, false
	}
	return vm.clone(), true
}

// OnNode returns the VMs on node, running or not, sorted by namespace and
// name.
func (v *VMs) OnNode(node string) []v1.VMReference {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []v1.VMReference
	for ref, vm := range v.vms {
		if vm.Node == node {
			out = append(out, ref)
		}
	}
	slices.SortFunc(out, func(a, b v1.VMReference) int { return strings.Compare(vmName(a), vmName(b)) })
	return out
}

// Cordoned reports whether Evacuate keeps VMs off node (until Release).
func (v *VMs) Cordoned(node string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cordoned[node]
}

// SetJobSteps sets how many observing calls after its starting call a
// long job takes from now on; 0 finishes jobs in the call that starts
// them.
func (v *VMs) SetJobSteps(n int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.steps = max(n, 0)
}

// CorruptChecksums makes the target checksum of the VM's copied or
// migrated volumes differ from the source's (as after a bad copy);
// false makes them equal again.
func (v *VMs) CorruptChecksums(ref v1.VMReference, corrupt bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if corrupt {
		v.corrupt[ref] = true
	} else {
		delete(v.corrupt, ref)
	}
}

// Fail makes the next times calls of method (a Method constant of a VMs
// method) return err without changing anything; times <= 0 fails every
// call until Fail(method, nil, 0) clears it.
func (v *VMs) Fail(method string, err error, times int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.log.fail(method, err, times)
}

// Calls returns every call made so far, oldest first, reads included.
func (v *VMs) Calls() []Call {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.log.snapshot(false)
}

// Mutations returns the calls that changed something or started a job
// that will, oldest first.
func (v *VMs) Mutations() []Call {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.log.snapshot(true)
}

// job advances the long job key by one call: the first call starts it,
// each later one observes it, and the call that uses up its steps runs
// finish and reports done.
func (v *VMs) job(key jobKey, finish func()) (done, started bool) {
	left, running := v.jobs[key]
	if !running {
		if v.steps == 0 {
			finish()
			return true, true
		}
		v.jobs[key] = v.steps
		return false, true
	}
	if left--; left <= 0 {
		delete(v.jobs, key)
		finish()
		return true, false
	}
	v.jobs[key] = left
	return false, false
}

// progress returns the Progress of a job call and logs it.
func (v *VMs) progress(method, target, args string, done, started bool, doing, finished string) (backend.Progress, error) {
	_ = v.log.record(method, target, started, nil, "%s", args)
	if done {
		return backend.Progress{Done: true, Message: finished}, nil
	}
	return backend.Progress{Message: doing}, nil
}

// lookup returns the VM and checks the storage class ("" skips that).
func (v *VMs) lookup(ref v1.VMReference, class string) (*VM, error) {
	vm, ok := v.vms[ref]
	if !ok {
		return nil, fmt.Errorf("simulated KubeVirt: VirtualMachine %s: %w", vmName(ref), ErrNotFound)
	}
	if class != "" && !slices.Contains(v.classes, class) {
		return nil, fmt.Errorf("simulated KubeVirt: storage class %q: %w", class, ErrNotFound)
	}
	return vm, nil
}

// begin checks ctx and the injected fault of method, and looks the VM up.
func (v *VMs) begin(ctx context.Context, method string, ref v1.VMReference, class, args string) (*VM, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := v.log.fault(method); err != nil {
		return nil, v.log.record(method, vmName(ref), false, err, "%s", args)
	}
	vm, err := v.lookup(ref, class)
	if err != nil {
		return nil, v.log.record(method, vmName(ref), false, err, "%s", args)
	}
	return vm, nil
}

func (v *VMs) fail(method string, ref v1.VMReference, args string, format string, a ...any) error {
	return v.log.record(method, vmName(ref), false, fmt.Errorf("simulated KubeVirt: VirtualMachine %s: "+format, append([]any{vmName(ref)}, a...)...), "%s", args)
}

// Evacuate moves the running VMs off node and cordons it. LiveMigrate
// moves each to the uncordoned node with the fewest VMs (it is an error
// when a running VM cannot move live or no other node is free);
// Shutdown stops them, and Release starts them again; None leaves them
// and is done at once. The VMs move when the job is done.
func (v *VMs) Evacuate(ctx context.Context, node string, protection v1.VMProtection) (backend.Progress, error) {
	if err := ctx.Err(); err != nil {
		return backend.Progress{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	args := string(protection)
	if err := v.log.fault(MethodEvacuate); err != nil {
		return backend.Progress{}, v.log.record(MethodEvacuate, node, false, err, "%s", args)
	}
	if !slices.Contains(v.nodes, node) {
		return backend.Progress{}, v.log.record(MethodEvacuate, node, false, fmt.Errorf("simulated KubeVirt: node %q: %w", node, ErrNotFound), "%s", args)
	}
	switch protection {
	case v1.VMProtectionNone:
		_ = v.log.record(MethodEvacuate, node, false, nil, "%s", args)
		return backend.Progress{Done: true, Message: "vmProtection None: the VMs stay on " + node}, nil
	case v1.VMProtectionLiveMigrate, v1.VMProtectionShutdown:
	default:
		return backend.Progress{}, v.log.record(MethodEvacuate, node, false, fmt.Errorf("simulated KubeVirt: unknown vmProtection %q", protection), "%s", args)
	}
	var running []*VM
	for _, ref := range v.sortedRefs() {
		if vm := v.vms[ref]; vm.Node == node && vm.Running {
			running = append(running, vm)
		}
	}
	if protection == v1.VMProtectionLiveMigrate && len(running) > 0 {
		for _, vm := range running {
			if !vm.Live {
				return backend.Progress{}, v.log.record(MethodEvacuate, node, false, fmt.Errorf("simulated KubeVirt: VirtualMachine %s on %s cannot move live; use vmProtection Shutdown", vmName(vm.Ref), node), "%s", args)
			}
		}
		if v.leastLoaded(node) == "" {
			return backend.Progress{}, v.log.record(MethodEvacuate, node, false, fmt.Errorf("simulated KubeVirt: no uncordoned node left to take the VMs of %s", node), "%s", args)
		}
	}
	cordoned := !v.cordoned[node]
	v.cordoned[node] = true
	if len(running) == 0 {
		delete(v.jobs, jobKey{MethodEvacuate, node, args})
		_ = v.log.record(MethodEvacuate, node, cordoned, nil, "%s", args)
		return backend.Progress{Done: true, Message: fmt.Sprintf("no VM runs on %s; cordoned", node)}, nil
	}
	names := make([]string, len(running))
	for i, vm := range running {
		names[i] = vmName(vm.Ref)
	}
	verb := map[v1.VMProtection]string{v1.VMProtectionLiveMigrate: "live-migrating", v1.VMProtectionShutdown: "shutting down"}[protection]
	done, started := v.job(jobKey{MethodEvacuate, node, args}, func() {
		for _, vm := range running {
			if protection == v1.VMProtectionLiveMigrate {
				vm.Node = v.leastLoaded(node)
				continue
			}
			vm.Running = false
			if !slices.Contains(v.shutDown[node], vm.Ref) {
				v.shutDown[node] = append(v.shutDown[node], vm.Ref)
			}
		}
	})
	return v.progress(MethodEvacuate, node, args, done, started || cordoned,
		fmt.Sprintf("%s %s off %s", verb, strings.Join(names, ", "), node),
		fmt.Sprintf("%s %s off %s: done", verb, strings.Join(names, ", "), node))
}

// leastLoaded returns the uncordoned node other than not with the fewest
// VMs, the earlier on a tie, or "".
func (v *VMs) leastLoaded(not string) string {
	load := map[string]int{}
	for _, vm := range v.vms {
		load[vm.Node]++
	}
	best := ""
	for _, n := range v.nodes {
		if n == not || v.cordoned[n] {
			continue
		}
		if best == "" || load[n] < load[best] {
			best = n
		}
	}
	return best
}

func (v *VMs) sortedRefs() []v1.VMReference {
	refs := slices.Collect(maps.Keys(v.vms))
	slices.SortFunc(refs, func(a, b v1.VMReference) int { return strings.Compare(vmName(a), vmName(b)) })
	return refs
}

// Release uncordons node and starts the VMs Evacuate shut down there.
func (v *VMs) Release(ctx context.Context, node string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.log.fault(MethodRelease); err != nil {
		return v.log.record(MethodRelease, node, false, err, "")
	}
	if !slices.Contains(v.nodes, node) {
		return v.log.record(MethodRelease, node, false, fmt.Errorf("simulated KubeVirt: node %q: %w", node, ErrNotFound), "")
	}
	changed := v.cordoned[node]
	delete(v.cordoned, node)
	for key := range v.jobs {
		if key.method == MethodEvacuate && key.target == node {
			delete(v.jobs, key)
		}
	}
	for _, ref := range v.shutDown[node] {
		if vm, ok := v.vms[ref]; ok && !vm.Running {
			vm.Running, changed = true, true
		}
	}
	delete(v.shutDown, node)
	return v.log.record(MethodRelease, node, changed, nil, "")
}

// Check reports whether the VM can move live to the storage class: it
// must run and be live-migratable. An unknown VM or storage class is an
// error (wrapping ErrNotFound), and so is a VM whose volumes are on the
// class already.
func (v *VMs) Check(ctx context.Context, ref v1.VMReference, storageClass string) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	vm, err := v.begin(ctx, MethodCheck, ref, storageClass, storageClass)
	if err != nil {
		return false, err
	}
	if vm.StorageClass == storageClass {
		return false, v.fail(MethodCheck, ref, storageClass, "its volumes are on storage class %s already", storageClass)
	}
	_ = v.log.record(MethodCheck, vmName(ref), false, nil, "%s", storageClass)
	return vm.Running && vm.Live, nil
}

// Snapshot takes the named snapshot of the VM's volumes; once it exists
// the call reports done at once.
func (v *VMs) Snapshot(ctx context.Context, ref v1.VMReference, name string) (backend.Progress, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	vm, err := v.begin(ctx, MethodSnapshot, ref, "", name)
	if err != nil {
		return backend.Progress{}, err
	}
	if name == "" {
		return backend.Progress{}, v.fail(MethodSnapshot, ref, name, "a snapshot needs a name")
	}
	ready := fmt.Sprintf("snapshot %s of %s (storage class %s) is ready", name, vmName(ref), vm.StorageClass)
	if slices.Contains(vm.Snapshots, name) {
		return v.progress(MethodSnapshot, vmName(ref), name, true, false, "", ready)
	}
	done, started := v.job(jobKey{MethodSnapshot, vmName(ref), name}, func() {
		vm.Snapshots = append(vm.Snapshots, name)
		slices.Sort(vm.Snapshots)
	})
	return v.progress(MethodSnapshot, vmName(ref), name, done, started, fmt.Sprintf("taking snapshot %s of %s", name, vmName(ref)), ready)
}

// MigrateLive moves the running VM's volumes to the storage class while
// it runs, keeping the source volumes (SourceClass) until RollBack. It is
// an error when the VM is stopped or cannot move live.
func (v *VMs) MigrateLive(ctx context.Context, ref v1.VMReference, storageClass string) (backend.Progress, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	vm, err := v.begin(ctx, MethodMigrateLive, ref, storageClass, storageClass)
	if err != nil {
		return backend.Progress{}, err
	}
	if vm.StorageClass == storageClass {
		return v.progress(MethodMigrateLive, vmName(ref), storageClass, true, false, "", fmt.Sprintf("the volumes of %s are on %s", vmName(ref), storageClass))
	}
	if !vm.Running {
		return backend.Progress{}, v.fail(MethodMigrateLive, ref, storageClass, "it is not running; a stopped VM moves cold")
	}
	if !vm.Live {
		return backend.Progress{}, v.fail(MethodMigrateLive, ref, storageClass, "it cannot move live")
	}
	from := vm.StorageClass
	done, started := v.job(jobKey{MethodMigrateLive, vmName(ref), storageClass}, func() {
		vm.SourceClass, vm.StorageClass = from, storageClass
	})
	return v.progress(MethodMigrateLive, vmName(ref), storageClass, done, started,
		fmt.Sprintf("migrating the volumes of %s from %s to %s while it runs", vmName(ref), from, storageClass),
		fmt.Sprintf("the volumes of %s moved live from %s to %s; the source volumes are kept", vmName(ref), from, storageClass))
}

// SetRunning stops or starts the VM; a VM already in that state needs no
// job. A stop or start in flight the other way is dropped.
func (v *VMs) SetRunning(ctx context.Context, ref v1.VMReference, running bool) (backend.Progress, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	arg := strconv.FormatBool(running)
	vm, err := v.begin(ctx, MethodSetRunning, ref, "", arg)
	if err != nil {
		return backend.Progress{}, err
	}
	delete(v.jobs, jobKey{MethodSetRunning, vmName(ref), strconv.FormatBool(!running)})
	state := map[bool]string{true: "running", false: "stopped"}[running]
	if vm.Running == running {
		delete(v.jobs, jobKey{MethodSetRunning, vmName(ref), arg})
		return v.progress(MethodSetRunning, vmName(ref), arg, true, false, "", fmt.Sprintf("%s is %s", vmName(ref), state))
	}
	verb := map[bool]string{true: "starting", false: "stopping"}[running]
	done, started := v.job(jobKey{MethodSetRunning, vmName(ref), arg}, func() { vm.Running = running })
	return v.progress(MethodSetRunning, vmName(ref), arg, done, started, fmt.Sprintf("%s %s", verb, vmName(ref)), fmt.Sprintf("%s is %s", vmName(ref), state))
}

// Copy copies the stopped VM's volumes to new volumes of the storage
// class (Copies); it is an error while the VM runs.
func (v *VMs) Copy(ctx context.Context, ref v1.VMReference, storageClass string) (backend.Progress, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	vm, err := v.begin(ctx, MethodCopy, ref, storageClass, storageClass)
	if err != nil {
		return backend.Progress{}, err
	}
	if vm.StorageClass == storageClass || slices.Contains(vm.Copies, storageClass) {
		return v.progress(MethodCopy, vmName(ref), storageClass, true, false, "", fmt.Sprintf("the volumes of %s are copied to %s", vmName(ref), storageClass))
	}
	if vm.Running {
		return backend.Progress{}, v.fail(MethodCopy, ref, storageClass, "it is running; stop it before a cold copy")
	}
	from := vm.StorageClass
	done, started := v.job(jobKey{MethodCopy, vmName(ref), storageClass}, func() {
		vm.Copies = append(vm.Copies, storageClass)
		slices.Sort(vm.Copies)
	})
	return v.progress(MethodCopy, vmName(ref), storageClass, done, started,
		fmt.Sprintf("copying the volumes of %s from %s to %s", vmName(ref), from, storageClass),
		fmt.Sprintf("the volumes of %s are copied to %s", vmName(ref), storageClass))
}

// Swap points the stopped VM at its copies in the storage class, keeping
// the source volumes (SourceClass). It is an error while the VM runs or
// when there is no copy.
func (v *VMs) Swap(ctx context.Context, ref v1.VMReference, storageClass string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	vm, err := v.begin(ctx, MethodSwap, ref, storageClass, storageClass)
	if err != nil {
		return err
	}
	if vm.StorageClass == storageClass {
		return v.log.record(MethodSwap, vmName(ref), false, nil, "%s", storageClass)
	}
	if vm.Running {
		return v.fail(MethodSwap, ref, storageClass, "it is running; stop it before swapping volumes")
	}
	if !slices.Contains(vm.Copies, storageClass) {
		return v.fail(MethodSwap, ref, storageClass, "no copy of its volumes in %s; Copy first", storageClass)
	}
	vm.SourceClass, vm.StorageClass = vm.StorageClass, storageClass
	vm.Copies = slices.DeleteFunc(vm.Copies, func(c string) bool { return c == storageClass })
	return v.log.record(MethodSwap, vmName(ref), true, nil, "%s", storageClass)
}

// Checksums returns the checksums of the source volumes and of the
// target volumes in the storage class (a copy, or the volumes the VM was
// swapped or migrated to). They are equal unless CorruptChecksums says
// otherwise; with no target volumes it is an error.
func (v *VMs) Checksums(ctx context.Context, ref v1.VMReference, storageClass string) (string, string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	vm, err := v.begin(ctx, MethodChecksums, ref, storageClass, storageClass)
	if err != nil {
		return "", "", err
	}
	moved := vm.StorageClass == storageClass && vm.SourceClass != ""
	if !moved && !slices.Contains(vm.Copies, storageClass) {
		return "", "", v.fail(MethodChecksums, ref, storageClass, "no volumes in %s to compare with a source", storageClass)
	}
	_ = v.log.record(MethodChecksums, vmName(ref), false, nil, "%s", storageClass)
	content := vmName(ref)
	target := content
	if v.corrupt[ref] {
		target += "\x00corrupted"
	}
	return checksum(content), checksum(target), nil
}

// checksum is the simulated checksum of a volume's content.
func checksum(content string) string {
	sum := sha256.Sum256([]byte(content))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// RollBack points the VM back at its source volumes (SourceClass) and
// drops the copies in the storage class, cancelling a copy or live
// migration to it in flight. A VM that never left its source volumes is
// done at once. It is an error when the VM uses the class with no source
// kept, or runs on it and cannot move live.
func (v *VMs) RollBack(ctx context.Context, ref v1.VMReference, storageClass string) (backend.Progress, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	vm, err := v.begin(ctx, MethodRollBack, ref, storageClass, storageClass)
	if err != nil {
		return backend.Progress{}, err
	}
	swapped := vm.StorageClass == storageClass
	if swapped && vm.SourceClass == "" {
		return backend.Progress{}, v.fail(MethodRollBack, ref, storageClass, "its volumes are on %s and no source volumes are kept", storageClass)
	}
	if swapped && vm.Running && !vm.Live {
		return backend.Progress{}, v.fail(MethodRollBack, ref, storageClass, "it runs and cannot move live; stop it first")
	}
	cancelled := false
	for _, m := range []string{MethodCopy, MethodMigrateLive} {
		if _, ok := v.jobs[jobKey{m, vmName(ref), storageClass}]; ok {
			delete(v.jobs, jobKey{m, vmName(ref), storageClass})
			cancelled = true
		}
	}
	if !swapped && !slices.Contains(vm.Copies, storageClass) {
		return v.progress(MethodRollBack, vmName(ref), storageClass, true, cancelled, "", fmt.Sprintf("%s uses its source volumes on %s; nothing of %s is left", vmName(ref), vm.StorageClass, storageClass))
	}
	done, started := v.job(jobKey{MethodRollBack, vmName(ref), storageClass}, func() {
		if vm.StorageClass == storageClass {
			vm.StorageClass, vm.SourceClass = vm.SourceClass, ""
		}
		vm.Copies = slices.DeleteFunc(vm.Copies, func(c string) bool { return c == storageClass })
	})
	return v.progress(MethodRollBack, vmName(ref), storageClass, done, started || cancelled,
		fmt.Sprintf("pointing %s back at its source volumes and dropping the copies in %s", vmName(ref), storageClass),
		fmt.Sprintf("%s uses its source volumes on %s again; the copies in %s are dropped", vmName(ref), vm.StorageClass, storageClass))
}
