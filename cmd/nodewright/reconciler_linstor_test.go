package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nodewright/nodewright/internal/sandbox/cluster"
	"github.com/nodewright/nodewright/reconciler/nodetask"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/replication"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/envtest"
	"github.com/nodewright/nodewright/test/fleet"
	"github.com/nodewright/nodewright/test/linstoremu"
	"github.com/nodewright/nodewright/test/stack"
)

// TestReconcilerCommandDrivesLINSTOR runs `nodewright reconciler` (the
// command, in this process) against a real API server following the
// sample fleet with its approved ReplicationUpgrade: with
// --linstor-controller naming the LINSTOR emulator, golinstor drives it
// to Succeeded; without a controller, the upgrade halts with
// NoStorageBackend and nothing is asked of LINSTOR.
func TestReconcilerCommandDrivesLINSTOR(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd")
	}
	env := envtest.Start(t, "config/crd/bases")
	admin := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, env.WriteKubeconfig(admin))

	for i, tc := range []struct {
		name       string
		controller bool
	}{{"with a controller", true}, {"without a controller", false}} {
		t.Run(tc.name, func(t *testing.T) {
			f := fleet.New(t, fleet.Options{Operations: []string{fleet.Replication}, AnyTime: true})
			emu := emulatorFromProfile(t, f)
			ns, name := fmt.Sprintf("cli-linstor-%d", i), fmt.Sprintf("cli-linstor-%d", i)
			s, err := stack.New(t, env.Config, stack.Options{Fleet: f, Options: cluster.Options{
				Namespace: ns, Name: name, Logger: testr.NewWithOptions(t, testr.Options{Verbosity: 0}),
			}})
			require.NoError(t, err)
			f.Approve(fleet.Replication, f.Carol)
			kubeconfig := reconcilerKubeconfig(t, admin, ns)

			args := []string{"--kubeconfig", kubeconfig, "--cluster-name", name, "--site", fleet.Site, "--namespace", ns,
				"--state-dir", t.TempDir(), "--leader-elect=false", "--metrics-bind-address", "0", "--health-probe-bind-address", "0"}
			if tc.controller {
				args = append(args, "--linstor-controller", emu.URL())
			}
			running := runReconcilerCommand(t, args...)

			up := &v1.ReplicationUpgrade{}
			require.NoError(t, s.WaitPhase(running, up, "vm-disks-to-3", 2*time.Minute, "Succeeded", "Halted", "Aborted"))
			if !tc.controller {
				require.Equal(t, "Halted", up.Status.Phase)
				stalled := meta.FindStatusCondition(up.Status.Conditions, operation.Stalled)
				require.NotNil(t, stalled, "%+v", up.Status.Conditions)
				assert.Equal(t, replication.ReasonNoStorageBackend, stalled.Reason)
				assert.Empty(t, emu.Mutations(), "nothing asked of LINSTOR")
				n, _ := emu.PlaceCount("vm-disks")
				assert.Equal(t, 2, n)
				return
			}
			require.Equal(t, "Succeeded", up.Status.Phase, "%+v", up.Status.Conditions)
			autoplaced := map[string]int{}
			puts := 0
			for _, c := range emu.Mutations() {
				switch {
				case c.Method == "POST" && strings.HasSuffix(c.Path, "/autoplace"):
					autoplaced[strings.TrimSuffix(strings.TrimPrefix(c.Path, "/v1/resource-definitions/"), "/autoplace")]++
				case c.Method == "PUT" && c.Path == "/v1/resource-groups/vm-disks":
					puts++
					assert.Empty(t, c.Placed, "the place count placed nothing")
				default:
					t.Errorf("unexpected mutation %s %s", c.Method, c.Path)
				}
			}
			assert.Equal(t, 1, puts, "the place count set once")
			for i := range cliResources {
				res := fmt.Sprintf("vm-disks-%03d", i+1)
				assert.Equal(t, 1, autoplaced[res], "%s autoplaced once", res)
				assert.Len(t, emu.ReplicaNodes(res), 3, "%s has three replicas", res)
			}
			n, _ := emu.PlaceCount("vm-disks")
			assert.Equal(t, 3, n)
		})
	}
}

// cliResources is how many resources the upgraded group has.
const cliResources = 4

// emulatorFromProfile starts a LINSTOR emulator with f's profile's nodes
// and pools (1 TiB free each) and resource groups, and cliResources
// resources of 10 GiB in vm-disks, replicas spread over the nodes. The
// command polls a syncing batch every ten seconds, so resyncs are
// instant: each batch is synced at its first look.
func emulatorFromProfile(t *testing.T, f *fleet.Fleet) *linstoremu.Emulator {
	t.Helper()
	p, err := f.Profile()
	require.NoError(t, err)
	emu := linstoremu.New(t, linstoremu.WithInstantSync())
	var nodes []string
	for _, n := range p.Spec.Nodes {
		nodes = append(nodes, n.Name)
		require.NoError(t, emu.AddNode(n.Name))
		for _, pool := range n.StoragePools {
			require.NoError(t, emu.AddStoragePool(n.Name, pool, 1<<30, 1<<30))
		}
	}
	for _, rg := range p.Spec.ResourceGroups {
		require.NoError(t, emu.AddResourceGroup(rg.Name, rg.StoragePool, int(rg.PlaceCount)))
	}
	for i := range cliResources {
		require.NoError(t, emu.AddResource("vm-disks", fmt.Sprintf("vm-disks-%03d", i+1), 10<<20, nodes[i%len(nodes)], nodes[(i+1)%len(nodes)]))
	}
	return emu
}

// reconcilerKubeconfig writes a kubeconfig that reaches the API server
// as the reconciler's ServiceAccount in namespace, as the Deployment's
// token would, by impersonating it from the administrator's kubeconfig
// admin (with system:masters, as the sandbox's reconciler has: RBAC is
// not what this test is about).
func reconcilerKubeconfig(t *testing.T, admin, namespace string) string {
	t.Helper()
	kc, err := clientcmd.LoadFromFile(admin)
	require.NoError(t, err)
	for _, a := range kc.AuthInfos {
		a.Impersonate = nodetask.ServiceAccountUser(namespace, cluster.ReconcilerServiceAccount)
		a.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated", "system:masters"}
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*kc, path))
	return path
}

// runReconcilerCommand runs `nodewright reconciler args...` until the test
// ends, then stops it as SIGTERM would (its context ends) and checks it
// ended cleanly. The context it returns ends if the command ends before,
// so that waiting on the cluster stops at once.
func runReconcilerCommand(t *testing.T, args ...string) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	running, ended := context.WithCancel(context.Background())
	cmd := newReconcilerCommand()
	cmd.SetArgs(args)
	done := make(chan error, 1)
	go func() {
		err := cmd.ExecuteContext(ctx)
		if ctx.Err() == nil {
			t.Errorf("the reconciler ended before the test: %v", err)
		}
		ended()
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "the reconciler ends cleanly when stopped")
		case <-time.After(time.Minute):
			t.Errorf("the reconciler did not stop within a minute")
		}
	})
	return running
}
