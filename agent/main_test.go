package agent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/agent"
	"github.com/nodewright/nodewright/agent/action"
	"github.com/nodewright/nodewright/internal/kernelvm"
	"github.com/nodewright/nodewright/reconciler/nodetask"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/envtest"
)

// The package's tests share one control plane. It is started by the first
// test that needs it rather than in TestMain itself, because `go test
// -fuzz` runs TestMain in the coordinator and in every fuzz worker, and
// FuzzParseFlipBond needs no API server; TestMain stops it.
var (
	envOnce sync.Once
	testEnv *envtest.Env
	envStop func()
	envErr  error
	scheme  *runtime.Scheme
	k8s     client.Client
)

func TestMain(m *testing.M) {
	code := m.Run()
	if envStop != nil {
		envStop()
	}
	os.Exit(code)
}

// env returns the shared control plane and a client whose scheme holds the
// nodewright.io types.
func env(t *testing.T) (*envtest.Env, client.Client) {
	t.Helper()
	if os.Getenv(kernelvm.EnvVar) == "1" {
		// make kernel-test runs this package's binary for its kernel
		// tests; the VM has no control plane, and make test runs these.
		t.Skip("needs an API server, which the kernel-test VM has not")
	}
	envOnce.Do(func() {
		testEnv, envStop, envErr = envtest.StartForMain("config/crd/bases")
		if envErr != nil {
			return
		}
		if scheme, envErr = agent.NewScheme(); envErr != nil {
			return
		}
		k8s, envErr = client.New(testEnv.Config, client.Options{Scheme: scheme})
	})
	require.NoError(t, envErr)
	return testEnv, k8s
}

// waitTimeout bounds every wait for the agent; the agent normally answers
// in well under a second.
const waitTimeout = 30 * time.Second

// newNamespace creates a namespace of the test's own.
func newNamespace(t *testing.T) string {
	t.Helper()
	_, c := env(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "agent-" + rand.String(8)}}
	require.NoError(t, c.Create(context.Background(), ns))
	return ns.Name
}

// runAgent starts an agent and returns the function that stops it and
// waits until it has stopped (also called at cleanup).
func runAgent(t *testing.T, opts agent.Options) (stop func()) {
	t.Helper()
	e, _ := env(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx, e.Config, scheme, opts) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("agent %s: %v", opts.ID, err)
				}
			case <-time.After(waitTimeout):
				t.Errorf("agent %s did not stop within %s", opts.ID, waitTimeout)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// flipParams are the params of a FlipBond task from active-backup to
// 802.3ad on bond0, with every kind of probe.
func flipParams(mods ...func(map[string]string)) map[string]string {
	p := action.FlipBond{
		Bond:         "bond0",
		FromMode:     v1.BondActiveBackup,
		ToMode:       v1.Bond8023AD,
		RevertAfter:  time.Minute,
		Gateway:      "10.0.0.1",
		Peers:        []string{"node-b", "node-c"},
		APIServer:    true,
		ProbeTimeout: 5 * time.Second,
	}.Params()
	for _, mod := range mods {
		mod(p)
	}
	return p
}

// reconcilerSide gives ns what the reconciler has where it runs: its
// ServiceAccount (whose tokens attest tasks) and the BondModeFlipPlan
// "flip" in the phase that asks for FlipBond tasks. It may be called
// again.
func reconcilerSide(t *testing.T, ns string) {
	t.Helper()
	_, c := env(t)
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: agent.DefaultReconcilerServiceAccount}}
	if err := c.Create(ctx, sa); !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	op := &v1.BondModeFlipPlan{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "flip"}, Spec: flipSpec()}
	if err := c.Create(ctx, op); apierrors.IsAlreadyExists(err) {
		return
	} else {
		require.NoError(t, err)
	}
	op.Status.Phase = v1.PhaseFlip
	require.NoError(t, c.Status().Update(ctx, op))
}

// flipSpec is a valid BondModeFlipPlan spec.
func flipSpec() v1.BondModeFlipPlanSpec {
	return v1.BondModeFlipPlanSpec{Bond: "bond0", FromMode: v1.BondActiveBackup, ToMode: v1.Bond8023AD, Nodes: []string{"node-a"},
		RevertAfter: metav1.Duration{Duration: time.Minute}, Probes: v1.Probes{Timeout: metav1.Duration{Duration: 5 * time.Second}}}
}

// attest gives task the reconciler's attestation, as the reconciler does.
func attest(t *testing.T, task *v1.NodeTask) {
	t.Helper()
	_, c := env(t)
	reconcilerSide(t, task.Namespace)
	a := &nodetask.TokenAttester{Client: c, Namespace: task.Namespace, ServiceAccount: agent.DefaultReconcilerServiceAccount}
	token, err := a.Attest(context.Background(), task)
	require.NoError(t, err)
	if task.Annotations == nil {
		task.Annotations = map[string]string{}
	}
	task.Annotations[v1.AnnotationAttestation] = token
}

// newTask creates a NodeTask for node in ns, attested by the reconciler's
// ServiceAccount, and returns it.
func newTask(t *testing.T, ns, name, node, action string, params map[string]string, deadline time.Time) *v1.NodeTask {
	t.Helper()
	task := unattestedTask(ns, name, node, action, params, deadline)
	attest(t, task)
	_, c := env(t)
	require.NoError(t, c.Create(context.Background(), task))
	return task
}

// unattestedTask is the task newTask creates, before its attestation.
func unattestedTask(ns, name, node, action string, params map[string]string, deadline time.Time) *v1.NodeTask {
	return &v1.NodeTask{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns,
			Name:      name,
			Labels:    map[string]string{v1.LabelNode: node},
		},
		Spec: v1.NodeTaskSpec{
			NodeName:  node,
			Operation: v1.OperationReference{Kind: v1.KindBondModeFlipPlan, Name: "flip"},
			Action:    action,
			Params:    params,
			Deadline:  metav1.NewTime(deadline.UTC().Truncate(time.Second)),
		},
	}
}

// waitPhase polls the task until its phase is one of phases and returns
// it; it fails the test at waitTimeout with the last status seen.
func waitPhase(t *testing.T, task *v1.NodeTask, phases ...v1.TaskPhase) *v1.NodeTask {
	t.Helper()
	_, c := env(t)
	deadline := time.Now().Add(waitTimeout)
	got := &v1.NodeTask{}
	for {
		err := c.Get(context.Background(), client.ObjectKeyFromObject(task), got)
		if err == nil {
			for _, p := range phases {
				if v1.TaskPhase(got.Status.Phase) == p {
					return got
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: want phase %v within %s; last seen %+v (get error: %v)", task.Name, phases, waitTimeout, got.Status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wait fails the test unless ch closes within waitTimeout.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		t.Fatalf("%s did not happen within %s", what, waitTimeout)
	}
}

var errNoARP = errors.New("no ARP reply from 10.0.0.1")

// nodeName returns a node name of the test's own, so that agents and their
// NodewrightAgentStatus objects of different tests do not meet.
func nodeName() string {
	return fmt.Sprintf("node-%s", rand.String(6))
}
