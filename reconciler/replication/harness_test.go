package replication_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler/backend/memory"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/operation/optest"
	"github.com/nodewright/nodewright/reconciler/phase"
	"github.com/nodewright/nodewright/reconciler/replication"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// The scenario tests share one control plane, started by the first test
// that needs it (the pure tests need none).
var controlPlane optest.ControlPlane

func TestMain(m *testing.M) { controlPlane.Main(m) }

// opName is the name of every scenario's operation.
const opName = "vm-disks-to-3"

// harness runs one ReplicationUpgrade through the real reconcile skeleton
// on a real API server, over a simulated LINSTOR.
type harness struct {
	*optest.Harness[*v1.ReplicationUpgrade]
	storage *memory.Storage
}

// newHarness makes a namespace, a site profile (three nodes with the nvme
// pool, resource group vm-disks at place count 2; edit may change it)
// and a simulated LINSTOR seeded from it with five resources.
func newHarness(t *testing.T, edit func(*v1.EdgeProfile)) *harness {
	t.Helper()
	h := &harness{Harness: optest.New[*v1.ReplicationUpgrade](t, controlPlane.Client(t), optest.Options{
		Kind: replication.Kind, Name: opName, Site: "ru",
		Profile: func(p *v1.EdgeProfile) {
			p.Spec.ResourceGroups = []v1.ResourceGroup{{Name: "vm-disks", StoragePool: "nvme", PlaceCount: 2}}
			p.Spec.StorageClasses = []v1.StorageClass{{Name: "linstor-r2", ResourceGroup: "vm-disks"}}
			if edit != nil {
				edit(p)
			}
		},
	})}
	h.storage = memory.StorageFromProfile(h.Profile, 5)
	h.storage.SetSyncAfter(2)
	h.Env.Storage = h.storage
	return h
}

// spec is the scenarios' usual spec: vm-disks from 2 to 3 replicas, two
// resources per batch, an hour for each to sync.
func spec() v1.ReplicationUpgradeSpec {
	return v1.ReplicationUpgradeSpec{ResourceGroup: "vm-disks", FromPlaceCount: 2, ToPlaceCount: 3, BatchSize: 2,
		SyncTimeout: metav1.Duration{Duration: time.Hour}}
}

// apply creates the operation with spec s.
func (h *harness) apply(s v1.ReplicationUpgradeSpec) {
	h.T.Helper()
	h.Apply(&v1.ReplicationUpgrade{Spec: s})
}

// mutations returns the storage calls that changed something, as
// "Method Args".
func (h *harness) mutations() []string {
	return optest.MethodArgs(h.storage.Mutations())
}

// haltedWith checks op halted with the Stalled condition's reason and
// returns that condition, for the message to be checked.
func haltedWith(t *testing.T, op *v1.ReplicationUpgrade, reason string) *metav1.Condition {
	t.Helper()
	require.Equal(t, string(phase.Halted), op.Status.Phase, "%+v", op.Status.Conditions)
	stalled := optest.Condition(op, operation.Stalled)
	require.NotNil(t, stalled)
	require.Equal(t, reason, stalled.Reason, stalled.Message)
	return stalled
}
