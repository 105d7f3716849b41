package vmmigration_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler/backend/memory"
	"github.com/nodewright/nodewright/reconciler/operation/optest"
	"github.com/nodewright/nodewright/reconciler/vmmigration"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// The scenario tests share one control plane, started by the first test
// that needs it (the pure tests need none).
var controlPlane optest.ControlPlane

func TestMain(m *testing.M) { controlPlane.Main(m) }

// opName is the name of every scenario's operation.
const opName = "db-to-r3"

// db is the VM every scenario moves, from linstor-r2 to linstor-r3.
var db = v1.VMReference{Namespace: "apps", Name: "db-0"}

// harness runs one VMVolumeMigration through the real reconcile skeleton
// on a real API server, over a simulated KubeVirt.
type harness struct {
	*optest.Harness[*v1.VMVolumeMigration]
	vms *memory.VMs
}

// newHarness makes a namespace, a site profile with storage classes
// linstor-r2 and linstor-r3 (edit may change it) and a simulated KubeVirt
// holding apps/db-0 on linstor-r2, running; live says whether it can
// move live.
func newHarness(t *testing.T, live bool, edit func(*v1.EdgeProfile)) *harness {
	t.Helper()
	h := &harness{Harness: optest.New[*v1.VMVolumeMigration](t, controlPlane.Client(t), optest.Options{
		Kind: vmmigration.Kind, Name: opName, Site: "vm",
		Profile: func(p *v1.EdgeProfile) {
			p.Spec.ResourceGroups = []v1.ResourceGroup{
				{Name: "vm-disks", StoragePool: "nvme", PlaceCount: 2},
				{Name: "vm-disks-r3", StoragePool: "nvme", PlaceCount: 3},
			}
			p.Spec.StorageClasses = []v1.StorageClass{
				{Name: "linstor-r2", ResourceGroup: "vm-disks"},
				{Name: "linstor-r3", ResourceGroup: "vm-disks-r3"},
			}
			if edit != nil {
				edit(p)
			}
		},
	})}
	h.vms = memory.NewVMs([]string{"node-a", "node-b", "node-c"}, []string{"linstor-r2", "linstor-r3"})
	require.NoError(t, h.vms.AddVM(memory.VM{Ref: db, Node: "node-a", Running: true, Live: live, StorageClass: "linstor-r2"}))
	h.vms.SetJobSteps(1)
	h.Env.VMs = h.vms
	return h
}

// spec is the scenarios' usual spec: db-0 to linstor-r3 in mode Auto,
// with the defaults (both snapshots, checksums) left to v1.Default.
func spec() v1.VMVolumeMigrationSpec {
	return v1.VMVolumeMigrationSpec{VM: db, TargetStorageClass: "linstor-r3"}
}

// apply creates the operation with spec s.
func (h *harness) apply(s v1.VMVolumeMigrationSpec) {
	h.T.Helper()
	h.Apply(&v1.VMVolumeMigration{Spec: s})
}

// mutations returns the KubeVirt calls that changed something or started
// a job, as "Method Args".
func (h *harness) mutations() []string {
	return optest.MethodArgs(h.vms.Mutations())
}

// progress returns the phase of each progress entry, by target.
func progress(op *v1.VMVolumeMigration) map[string]string {
	out := map[string]string{}
	for _, p := range op.Status.Progress {
		out[p.Target] = p.Phase
	}
	return out
}
