package kubevirt_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	kubevirtv1 "kubevirt.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/nodewright/nodewright/reconciler/backend"
	"github.com/nodewright/nodewright/reconciler/backend/kubevirt"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/envtest"
	"github.com/nodewright/nodewright/test/kubevirtsim"
)

var k8s client.WithWatch

func TestMain(m *testing.M) {
	env, stop, err := envtest.StartForMain(kubevirtsim.CRDDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, kubevirt.AddToScheme} {
		if err := add(scheme); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	k8s, err = client.NewWithWatch(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	stop()
	os.Exit(code)
}

// scene is one test's namespace, nodes (named <ns>-n1, <ns>-n2, ...) and
// stand-in.
type scene struct {
	t     *testing.T
	ns    string
	nodes []string
	sim   *kubevirtsim.Sim
	ev    *kubevirt.Evacuator
}

func newScene(t *testing.T, nodes int) *scene {
	t.Helper()
	ns := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(ns) > 50 {
		ns = ns[:50]
	}
	ctx := t.Context()
	require.NoError(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	s := &scene{t: t, ns: ns, ev: kubevirt.New(k8s)}
	for i := 1; i <= nodes; i++ {
		name := fmt.Sprintf("%s-n%d", ns, i)
		require.NoError(t, k8s.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}))
		s.nodes = append(s.nodes, name)
	}
	s.sim = kubevirtsim.New(k8s, ns, s.nodes...)
	return s
}

func (s *scene) node(name string) *corev1.Node {
	s.t.Helper()
	n := &corev1.Node{}
	require.NoError(s.t, k8s.Get(s.t.Context(), client.ObjectKey{Name: name}, n))
	return n
}

func (s *scene) vm(name string) *kubevirtv1.VirtualMachine {
	s.t.Helper()
	vm := &kubevirtv1.VirtualMachine{}
	require.NoError(s.t, k8s.Get(s.t.Context(), client.ObjectKey{Namespace: s.ns, Name: name}, vm))
	return vm
}

func (s *scene) migrations() []kubevirtv1.VirtualMachineInstanceMigration {
	s.t.Helper()
	list := &kubevirtv1.VirtualMachineInstanceMigrationList{}
	require.NoError(s.t, k8s.List(s.t.Context(), list, client.InNamespace(s.ns)))
	return list.Items
}

func (s *scene) vmiNode(name string) string {
	s.t.Helper()
	n, err := s.sim.VMINode(s.t.Context(), name)
	if errors.Is(err, kubevirtsim.ErrNoVMI) {
		return ""
	}
	require.NoError(s.t, err)
	return n
}

// evacuate calls Evacuate and steps the stand-in until it is done, at
// most limit rounds, and returns every progress message in order.
func (s *scene) evacuate(node string, p v1.VMProtection, limit int) []string {
	s.t.Helper()
	ctx := s.t.Context()
	var msgs []string
	for range limit {
		prog, err := s.ev.Evacuate(ctx, node, p)
		require.NoError(s.t, err)
		msgs = append(msgs, prog.Message)
		if prog.Done {
			return msgs
		}
		require.NoError(s.t, s.sim.Step(ctx))
	}
	s.t.Fatalf("Evacuate of %s not done after %d rounds: %q", node, limit, msgs)
	return nil
}

func TestEvacuateLiveMigratesAndIsDoneOnlyAfterTheMigrationSucceeded(t *testing.T) {
	s := newScene(t, 2)
	ctx := t.Context()
	n1, n2 := s.nodes[0], s.nodes[1]
	_, err := s.sim.AddVM(ctx, "db-0", n1, true)
	require.NoError(t, err)

	var msgs []string
	for i := 0; ; i++ {
		require.Less(t, i, 10, "not done: %q", msgs)
		prog, err := s.ev.Evacuate(ctx, n1, v1.VMProtectionLiveMigrate)
		require.NoError(t, err)
		msgs = append(msgs, prog.Message)
		ms := s.migrations()
		require.Len(t, ms, 1, "one migration, however often Evacuate runs")
		if prog.Done {
			assert.Equal(t, kubevirtv1.MigrationSucceeded, ms[0].Status.Phase, "done only after the migration succeeded")
			break
		}
		assert.NotEqual(t, kubevirtv1.MigrationSucceeded, ms[0].Status.Phase)
		require.NoError(t, s.sim.Step(ctx))
	}
	ns := s.ns
	assert.Equal(t, []string{
		ns + "/db-0 migrating (created)",
		ns + "/db-0 migrating (Pending)",
		ns + "/db-0 migrating (Scheduling)",
		ns + "/db-0 migrating (Running)",
		"no VM runs on " + n1 + ": " + ns + "/db-0 migrated to " + n2 + "; " + n1 + " cordoned",
	}, msgs)
	assert.Equal(t, n2, s.vmiNode("db-0"))

	n := s.node(n1)
	assert.True(t, n.Spec.Unschedulable, "cordoned")
	assert.Equal(t, "true", n.Annotations[kubevirt.AnnotationCordoned])
	m := s.migrations()[0]
	assert.Equal(t, "db-0", m.Spec.VMIName)
	assert.Equal(t, kubevirt.ManagedBy, m.Labels[kubevirt.LabelManagedBy])
	assert.NotEmpty(t, m.Labels[kubevirt.LabelEvacuation])
	assert.False(t, s.node(n2).Spec.Unschedulable)

	// Done stays done, and nothing new is created.
	prog, err := s.ev.Evacuate(ctx, n1, v1.VMProtectionLiveMigrate)
	require.NoError(t, err)
	assert.True(t, prog.Done)
	assert.Len(t, s.migrations(), 1)

	require.NoError(t, s.ev.Release(ctx, n1))
	n = s.node(n1)
	assert.False(t, n.Spec.Unschedulable, "uncordoned")
	assert.NotContains(t, n.Annotations, kubevirt.AnnotationCordoned)
	assert.NotContains(t, n.Annotations, kubevirt.AnnotationEvacuation)
}

func TestEvacuateShutdownStopsWhatCannotMoveLiveAndReleaseStartsIt(t *testing.T) {
	s := newScene(t, 2)
	ctx := t.Context()
	n1, n2 := s.nodes[0], s.nodes[1]
	_, err := s.sim.AddVM(ctx, "db-0", n1, true)
	require.NoError(t, err)
	_, err = s.sim.AddVM(ctx, "web-1", n1, false)
	require.NoError(t, err)
	_, err = s.sim.AddVM(ctx, "other", n2, false)
	require.NoError(t, err)

	msgs := s.evacuate(n1, v1.VMProtectionShutdown, 10)
	ns := s.ns
	assert.Equal(t, ns+"/db-0 migrating (created), "+ns+"/web-1 stopping", msgs[0])
	assert.Contains(t, msgs, ns+"/db-0 migrating (Pending), "+ns+"/web-1 stopped")
	assert.Equal(t, "no VM runs on "+n1+": "+ns+"/db-0 migrated to "+n2+", "+ns+"/web-1 stopped; "+n1+" cordoned", msgs[len(msgs)-1])

	assert.Equal(t, n2, s.vmiNode("db-0"), "the live one moved")
	assert.Empty(t, s.vmiNode("web-1"), "the other one stopped")
	assert.Equal(t, n2, s.vmiNode("other"), "a VM of another node is untouched")
	web := s.vm("web-1")
	assert.Equal(t, kubevirtv1.RunStrategyHalted, *web.Spec.RunStrategy)
	assert.Equal(t, string(kubevirtv1.RunStrategyAlways), web.Annotations[kubevirt.AnnotationRunStrategy])
	assert.Equal(t, n1, web.Annotations[kubevirt.AnnotationStoppedOn])
	assert.Equal(t, kubevirtv1.RunStrategyAlways, *s.vm("db-0").Spec.RunStrategy, "a migrated VM is not stopped")
	assert.Len(t, s.migrations(), 1, "only the live VM migrates")

	require.NoError(t, s.ev.Release(ctx, n1))
	assert.False(t, s.node(n1).Spec.Unschedulable)
	web = s.vm("web-1")
	assert.Equal(t, kubevirtv1.RunStrategyAlways, *web.Spec.RunStrategy, "the run strategy is restored")
	assert.NotContains(t, web.Labels, kubevirt.LabelStopped)
	assert.NotContains(t, web.Annotations, kubevirt.AnnotationRunStrategy)
	require.NoError(t, s.sim.Step(ctx))
	assert.NotEmpty(t, s.vmiNode("web-1"), "KubeVirt starts it again")

	// Release again changes nothing.
	nodeRV, webRV := s.node(n1).ResourceVersion, s.vm("web-1").ResourceVersion
	require.NoError(t, s.ev.Release(ctx, n1))
	assert.Equal(t, nodeRV, s.node(n1).ResourceVersion)
	assert.Equal(t, webRV, s.vm("web-1").ResourceVersion)
}

func TestEvacuateRefusesAVMItMayNotStopBeforeChangingAnything(t *testing.T) {
	s := newScene(t, 2)
	ctx := t.Context()
	n1 := s.nodes[0]
	_, err := s.sim.AddVM(ctx, "db-0", n1, true)
	require.NoError(t, err)
	_, err = s.sim.AddVM(ctx, "pinned", n1, false)
	require.NoError(t, err)
	_, err = s.sim.AddVMI(ctx, "bare", s.nodes[1], false)
	require.NoError(t, err)

	_, err = s.ev.Evacuate(ctx, n1, v1.VMProtectionLiveMigrate)
	var refused *backend.RefusedError
	require.ErrorAs(t, err, &refused)
	assert.Contains(t, err.Error(), s.ns+"/pinned")
	assert.Contains(t, err.Error(), "vmProtection LiveMigrate does not allow stopping it")
	assert.Contains(t, err.Error(), "LiveMigratable condition is False, DisksNotLiveMigratable")
	assert.False(t, s.node(n1).Spec.Unschedulable, "not cordoned")
	assert.Empty(t, s.migrations(), "no migration")
	assert.Equal(t, kubevirtv1.RunStrategyAlways, *s.vm("pinned").Spec.RunStrategy)

	// A VMI without a VirtualMachine cannot be stopped and started again.
	_, err = s.ev.Evacuate(ctx, s.nodes[1], v1.VMProtectionShutdown)
	require.ErrorAs(t, err, &refused)
	assert.Contains(t, err.Error(), s.ns+"/bare")
	assert.Contains(t, err.Error(), "no VirtualMachine")
	assert.False(t, s.node(s.nodes[1]).Spec.Unschedulable)
}

func TestEvacuateFailedMigrationRefusesNamingTheVMAndDeletingItRetries(t *testing.T) {
	s := newScene(t, 2)
	ctx := t.Context()
	n1 := s.nodes[0]
	_, err := s.sim.AddVM(ctx, "db-0", n1, true)
	require.NoError(t, err)
	s.sim.FailMigrations("db-0", "target pod failed to start")

	_, err = s.ev.Evacuate(ctx, n1, v1.VMProtectionLiveMigrate)
	require.NoError(t, err)
	require.NoError(t, s.sim.Step(ctx))
	_, err = s.ev.Evacuate(ctx, n1, v1.VMProtectionLiveMigrate)
	var refused *backend.RefusedError
	require.ErrorAs(t, err, &refused)
	assert.Contains(t, err.Error(), s.ns+"/db-0")
	assert.Contains(t, err.Error(), "phase Failed: target pod failed to start")
	assert.Equal(t, n1, s.vmiNode("db-0"))
	// It stays refused: a failed migration is not retried behind a person's back.
	_, err = s.ev.Evacuate(ctx, n1, v1.VMProtectionLiveMigrate)
	require.ErrorAs(t, err, &refused)
	assert.Len(t, s.migrations(), 1)

	// A person deletes the failed migration: the next call makes it again.
	s.sim.FailMigrations("db-0", "")
	m := s.migrations()[0]
	require.NoError(t, k8s.Delete(ctx, &m))
	s.evacuate(n1, v1.VMProtectionLiveMigrate, 10)
	ms := s.migrations()
	require.Len(t, ms, 1)
	assert.Equal(t, m.Name, ms[0].Name, "the same name in the same evacuation")
	assert.Equal(t, kubevirtv1.MigrationSucceeded, ms[0].Status.Phase)
}

func TestEvacuateCreatesEachMigrationOnceAcrossCrashes(t *testing.T) {
	s := newScene(t, 2)
	ctx := t.Context()
	n1 := s.nodes[0]
	_, err := s.sim.AddVM(ctx, "db-0", n1, true)
	require.NoError(t, err)
	_, err = s.sim.AddVM(ctx, "db-1", n1, true)
	require.NoError(t, err)

	// The process dies after each write reached the API server, before it
	// reports: every Create and Patch lands and then fails.
	creates := 0
	crashing := interceptor.NewClient(k8s, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if err := c.Create(ctx, obj, opts...); err != nil {
				return err
			}
			creates++
			return errors.New("crash after create")
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if err := c.Patch(ctx, obj, patch, opts...); err != nil {
				return err
			}
			return errors.New("crash after patch")
		},
	})
	crashy := kubevirt.New(crashing)
	for range 5 {
		_, err := crashy.Evacuate(ctx, n1, v1.VMProtectionLiveMigrate)
		if err == nil {
			break
		}
		assert.ErrorContains(t, err, "crash after")
	}
	assert.Equal(t, 2, creates, "one create per VMI")
	assert.True(t, s.node(n1).Spec.Unschedulable)

	// A fresh process (a fresh Evacuator) carries on with the same migrations.
	for range 3 {
		_, err := kubevirt.New(k8s).Evacuate(ctx, n1, v1.VMProtectionLiveMigrate)
		require.NoError(t, err)
	}
	assert.Len(t, s.migrations(), 2)
	s.evacuate(n1, v1.VMProtectionLiveMigrate, 10)
	assert.Len(t, s.migrations(), 2)
	assert.Equal(t, 2, creates)

	// The next evacuation of the node is a new one: new migrations.
	require.NoError(t, s.ev.Release(ctx, n1))
	_, err = s.sim.AddVM(ctx, "db-2", s.nodes[1], true)
	require.NoError(t, err)
	s.evacuate(s.nodes[1], v1.VMProtectionLiveMigrate, 10)
	assert.Len(t, s.migrations(), 5, "db-0, db-1 (back) and db-2 move off n2 by new migrations")
}

func TestReleaseLeavesANodeSomeoneElseCordonedAndRestoresSpecRunning(t *testing.T) {
	s := newScene(t, 2)
	ctx := t.Context()
	n1 := s.nodes[0]
	n := s.node(n1)
	n.Spec.Unschedulable = true
	require.NoError(t, k8s.Update(ctx, n))
	_, err := s.sim.AddVM(ctx, "old", n1, false)
	require.NoError(t, err)
	old := s.vm("old")
	old.Spec.RunStrategy, old.Spec.Running = nil, new(true)
	require.NoError(t, k8s.Update(ctx, old))

	msgs := s.evacuate(n1, v1.VMProtectionShutdown, 5)
	assert.Equal(t, "no VM runs on "+n1+": "+s.ns+"/old stopped; "+n1+" was cordoned already (not by Nodewright; Release leaves it so)", msgs[len(msgs)-1])
	old = s.vm("old")
	assert.False(t, *old.Spec.Running)
	assert.Nil(t, old.Spec.RunStrategy)
	assert.NotContains(t, s.node(n1).Annotations, kubevirt.AnnotationCordoned)

	require.NoError(t, s.ev.Release(ctx, n1))
	n = s.node(n1)
	assert.True(t, n.Spec.Unschedulable, "someone else's cordon stays")
	assert.NotContains(t, n.Annotations, kubevirt.AnnotationEvacuation)
	old = s.vm("old")
	assert.True(t, *old.Spec.Running, "spec.running is restored")
	assert.Nil(t, old.Spec.RunStrategy)
}

func TestEvacuateNoneAndUnknownNode(t *testing.T) {
	s := newScene(t, 1)
	ctx := t.Context()
	_, err := s.sim.AddVM(ctx, "db-0", s.nodes[0], false)
	require.NoError(t, err)

	prog, err := s.ev.Evacuate(ctx, s.nodes[0], v1.VMProtectionNone)
	require.NoError(t, err)
	assert.True(t, prog.Done)
	assert.False(t, s.node(s.nodes[0]).Spec.Unschedulable, "None cordons nothing")

	_, err = s.ev.Evacuate(ctx, s.ns+"-gone", v1.VMProtectionLiveMigrate)
	var nf *backend.NotFoundError
	require.ErrorAs(t, err, &nf)
	assert.Equal(t, "node", nf.Kind)
	require.NoError(t, s.ev.Release(ctx, s.ns+"-gone"), "nothing to release")

}

func TestEvacuateWaitsWhileNoNodeTakesTheMigration(t *testing.T) {
	s := newScene(t, 1)
	ctx := t.Context()
	_, err := s.sim.AddVM(ctx, "lonely", s.nodes[0], true)
	require.NoError(t, err)
	var prog backend.Progress
	for range 4 {
		prog, err = s.ev.Evacuate(ctx, s.nodes[0], v1.VMProtectionLiveMigrate)
		require.NoError(t, err)
		require.NoError(t, s.sim.Step(ctx))
	}
	assert.False(t, prog.Done)
	assert.Equal(t, s.ns+"/lonely migrating (Scheduling)", prog.Message)
}
