package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestAPIServerAcceptsEveryRenderedObject(t *testing.T) {
	installDefault(t)
	for _, o := range render(t, "config/default") {
		t.Run(id(o), func(t *testing.T) {
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(o.GroupVersionKind())
			require.NoError(t, env.Client.Get(t.Context(), client.ObjectKeyFromObject(o), got))
		})
	}
}

// TestReconcilerPodMeetsRestrictedPodSecurity creates (as a dry run) a pod
// from the Deployment's template in nodewright-system, whose label enforces
// the "restricted" Pod Security Standard. A control case shows the API server
// does enforce it there.
func TestReconcilerPodMeetsRestrictedPodSecurity(t *testing.T) {
	installDefault(t)
	dep, _ := reconcilerDeployment(t, render(t, "config/default"))
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: dep.Namespace, Labels: dep.Spec.Template.Labels},
			Spec:       *dep.Spec.Template.Spec.DeepCopy(),
		}
	}

	require.NoError(t, env.Client.Create(t.Context(), pod("reconciler"), client.DryRunAll))

	escalating := pod("escalating")
	escalating.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = new(true)
	err := env.Client.Create(t.Context(), escalating, client.DryRunAll)
	require.Error(t, err, "the namespace enforces the restricted standard")
	assert.True(t, apierrors.IsForbidden(err), "%v", err)
	assert.Contains(t, err.Error(), "restricted")
}

func TestAPIServerAcceptsTheSampleFleetSource(t *testing.T) {
	installDefault(t)
	for _, o := range render(t, "config/samples") {
		require.NoError(t, env.Client.Create(t.Context(), o, client.DryRunAll, client.FieldValidation("Strict")), id(o))
	}
}
