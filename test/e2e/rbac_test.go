package e2e_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/nodewright/nodewright/internal/sandbox/cluster"
	"github.com/nodewright/nodewright/reconciler"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/envtest"
	"github.com/nodewright/nodewright/test/fleet"
	"github.com/nodewright/nodewright/test/stack"
)

// TestShippedRBACIsEnough runs the reconciler and the agents as the
// service accounts of config/rbac, impersonated on the real API server:
// a bond flip reaching Succeeded with leader election on proves the
// least-privilege roles are enough, not just that they are small. The
// agents' account is in its own namespace, as config/agent deploys it,
// and works on the NodeTasks in the reconciler's.
func TestShippedRBACIsEnough(t *testing.T) {
	ctx := context.Background()
	e := apiServer(t)
	const ns, agentNS = "nodewright-system", "nodewright-agent"
	for _, n := range []string{ns, agentNS} {
		require.NoError(t, adminClient(t).Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}))
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(envtest.ModuleRoot(), "config", "rbac"))
	require.NoError(t, err)
	for _, r := range res.Resources() {
		data, err := r.AsYAML()
		require.NoError(t, err)
		u := &unstructured.Unstructured{}
		require.NoError(t, yaml.Unmarshal(data, &u.Object))
		if err := adminClient(t).Create(ctx, u); err != nil && !apierrors.IsAlreadyExists(err) {
			require.NoError(t, err, "create %s %s", u.GetKind(), u.GetName())
		}
	}
	as := func(namespace, sa string) *rest.Config {
		c := rest.CopyConfig(e.Config)
		c.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + namespace + ":" + sa}
		return c
	}

	f := fleet.New(t, fleet.Options{Operations: []string{fleet.BondFlip}, AnyTime: true, Edit: noVMProtection})
	s, err := stack.New(t, e.Config, stack.Options{Fleet: f, Options: cluster.Options{Namespace: ns, Name: "rbac",
		ReconcilerConfig: as(ns, "nodewright-reconciler"), AgentConfig: as(agentNS, "nodewright-agent"),
		Logger: testr.NewWithOptions(t, testr.Options{Verbosity: 0})}})
	require.NoError(t, err)
	f.Approve(fleet.BondFlip, f.Alice, f.Carol)
	_, err = s.StartReconciler(func(o *reconciler.Options) {
		o.LeaderElection = true
		o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = 4*time.Second, 3*time.Second, 500*time.Millisecond
	})
	require.NoError(t, err)
	plan := &v1.BondModeFlipPlan{}
	require.NoError(t, s.WaitPhase(ctx, plan, "bond0-to-lacp", 2*time.Minute, "Succeeded", "Halted"))
	assert.Equal(t, "Succeeded", plan.Status.Phase, "%+v", plan.Status.Conditions)
	fs := &v1.FleetSource{}
	require.NoError(t, s.Client.Get(ctx, keyOf(ns, "fleet"), fs))
	assert.Equal(t, "True", string(condition(fs.Status.Conditions, "Ready").Status))
}
