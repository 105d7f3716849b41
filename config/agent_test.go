package config_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	nodeagent "github.com/nodewright/nodewright/agent"
	"github.com/nodewright/nodewright/config/webhook"
)

// journalDir is the agent's node-local journal, on the host and in both
// containers.
const journalDir = "/var/lib/nodewright/journal"

// agentDaemonSet returns the rendered agent DaemonSet and its two
// containers, the agent and the watchdog.
func agentDaemonSet(t *testing.T, objs []*unstructured.Unstructured) (ds *appsv1.DaemonSet, agentC, watchdog *corev1.Container) {
	t.Helper()
	ds = &appsv1.DaemonSet{}
	typed(t, find(t, objs, "DaemonSet", "nodewright-agent"), ds)
	cs := ds.Spec.Template.Spec.Containers
	require.Len(t, cs, 2, "the agent and the watchdog")
	require.Equal(t, "agent", cs[0].Name)
	require.Equal(t, "watchdog", cs[1].Name)
	return ds, &cs[0], &cs[1]
}

func TestAgentDaemonSetRunsTheAgentAndTheWatchdog(t *testing.T) {
	objs := render(t, "config/default")
	ds, agentC, watchdog := agentDaemonSet(t, objs)
	_, reconcilerC := reconcilerDeployment(t, objs)
	pod := ds.Spec.Template.Spec

	assert.Equal(t, agentNamespace, ds.Namespace)
	assert.Equal(t, ds.Spec.Selector.MatchLabels, ds.Spec.Template.Labels, "the DaemonSet selects its own pods")
	assert.Equal(t, agent, pod.ServiceAccountName)
	require.NotNil(t, pod.AutomountServiceAccountToken)
	assert.True(t, *pod.AutomountServiceAccountToken, "the projected pod-bound token names the node for the webhook")
	assert.True(t, pod.HostNetwork, "the node's bonds are in the host's network namespace")
	assert.Equal(t, corev1.DNSClusterFirstWithHostNet, pod.DNSPolicy)
	assert.False(t, pod.HostPID)
	assert.False(t, pod.HostIPC)
	assert.Equal(t, "system-node-critical", pod.PriorityClassName)
	assert.Equal(t, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, pod.Tolerations, "every node, whatever its taints")
	assert.Equal(t, map[string]string{corev1.LabelOSStable: "linux"}, pod.NodeSelector)
	require.NotNil(t, pod.TerminationGracePeriodSeconds)
	assert.Greater(t, time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second, nodeagent.GracefulShutdownTimeout,
		"the kubelet waits longer than the agent takes to stop")
	assert.Empty(t, pod.InitContainers)

	webhookService := &corev1.Service{}
	typed(t, find(t, objs, "Service", webhook.ServiceName), webhookService)
	assert.False(t, labels.SelectorFromSet(webhookService.Spec.Selector).Matches(labels.Set(ds.Spec.Template.Labels)),
		"the webhook's Service does not send the API server's calls to the agents")

	require.Len(t, pod.Volumes, 1)
	assert.Equal(t, corev1.Volume{Name: "journal", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
		Path: journalDir, Type: new(corev1.HostPathDirectoryOrCreate),
	}}}, pod.Volumes[0], "the journal outlives the pod, on the node")

	assert.Equal(t, []string{"nodewright"}, agentC.Command)
	assert.Equal(t, []string{"agent", "--node=$(NODE_NAME)", "--host=linux", "--journal=" + journalDir, "--namespace=" + namespace}, agentC.Args)
	assert.Contains(t, agentC.Env, corev1.EnvVar{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"},
	}}, "--node is the pod's node")
	assert.Equal(t, []string{"nodewright"}, watchdog.Command)
	assert.Equal(t, []string{"agent", "watchdog", "--host=linux", "--journal=" + journalDir}, watchdog.Args)

	for _, c := range []*corev1.Container{agentC, watchdog} {
		t.Run(c.Name, func(t *testing.T) {
			assert.Equal(t, reconcilerC.Image, c.Image, "the reconciler's image")
			assert.Equal(t, []corev1.VolumeMount{{Name: "journal", MountPath: journalDir}}, c.VolumeMounts,
				"the journal, writable, and nothing else")
			assert.Empty(t, c.Ports, "the agent serves nothing")
			assert.Nil(t, c.LivenessProbe, "the agent serves no health endpoint to probe")
			assert.Nil(t, c.ReadinessProbe)
			assert.Nil(t, c.StartupProbe)
			assert.Contains(t, c.Env, corev1.EnvVar{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{
				ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: c.Name, Resource: "limits.memory"},
			}})
			for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				request, hasRequest := c.Resources.Requests[name]
				limit, hasLimit := c.Resources.Limits[name]
				if assert.True(t, hasRequest && hasLimit, "%s has a request and a limit", name) {
					assert.LessOrEqual(t, request.Cmp(limit), 0, "%s request is within its limit", name)
				}
			}
		})
	}
}

// TestAgentIsRootWithNetAdminOnly checks each container's security context
// as a whole, so a capability or a relaxed setting added later fails here:
// root (added capabilities are not effective for another uid) with
// CAP_NET_ADMIN alone (rtnetlink changes; the probes use UDP and TCP, no
// raw socket), a read-only root filesystem, no privilege escalation and
// the runtime's seccomp profile.
func TestAgentIsRootWithNetAdminOnly(t *testing.T) {
	ds, agentC, watchdog := agentDaemonSet(t, render(t, "config/default"))
	assert.Equal(t, &corev1.PodSecurityContext{
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}, ds.Spec.Template.Spec.SecurityContext)
	want := &corev1.SecurityContext{
		RunAsUser:                new(int64(0)),
		RunAsGroup:               new(int64(0)),
		RunAsNonRoot:             new(false),
		Privileged:               new(false),
		AllowPrivilegeEscalation: new(false),
		ReadOnlyRootFilesystem:   new(true),
		Capabilities: &corev1.Capabilities{
			Drop: []corev1.Capability{"ALL"},
			Add:  []corev1.Capability{"NET_ADMIN"},
		},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	for _, c := range []*corev1.Container{agentC, watchdog} {
		assert.Equal(t, want, c.SecurityContext, c.Name)
	}
}

// TestAgentPodIsAdmittedInItsNamespaceOnly creates, as dry runs, a pod from
// the DaemonSet's template: its own namespace ("privileged") admits it, and
// neither the "restricted" level of nodewright-system nor the "baseline"
// level does, which is why the agent has a namespace of its own.
func TestAgentPodIsAdmittedInItsNamespaceOnly(t *testing.T) {
	installDefault(t)
	ctx := t.Context()
	ds, _, _ := agentDaemonSet(t, render(t, "config/default"))
	pod := func(ns, serviceAccount string) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns, Labels: maps.Clone(ds.Spec.Template.Labels)},
			Spec:       *ds.Spec.Template.Spec.DeepCopy(),
		}
		p.Spec.ServiceAccountName = serviceAccount
		return p
	}

	require.NoError(t, env.Client.Create(ctx, pod(agentNamespace, agent), client.DryRunAll), "the agent's namespace admits it")

	// A ServiceAccount that exists there, so that only Pod Security can
	// refuse the pod.
	err := env.Client.Create(ctx, pod(namespace, reconciler), client.DryRunAll)
	require.Error(t, err, "nodewright-system enforces the restricted standard")
	assert.True(t, apierrors.IsForbidden(err), "%v", err)
	assert.Contains(t, err.Error(), `violates PodSecurity "restricted`)

	const baseline = "agent-baseline-check"
	require.NoError(t, env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: baseline, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "baseline"},
	}}))
	t.Cleanup(func() {
		_ = env.Client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: baseline}})
	})
	require.NoError(t, env.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: agent, Namespace: baseline}}))
	err = env.Client.Create(ctx, pod(baseline, agent), client.DryRunAll)
	require.Error(t, err, "the baseline standard refuses the agent too")
	assert.True(t, apierrors.IsForbidden(err), "%v", err)
	for _, why := range []string{`violates PodSecurity "baseline`, "hostNetwork", "hostPath", "NET_ADMIN"} {
		assert.Contains(t, err.Error(), why)
	}
}
