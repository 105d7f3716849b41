package config_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/nodewright/nodewright/config/crd"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/envtest"
)

// configMapPrefix is the name of the reconciler's ConfigMap before kustomize
// appends the hash of its content.
const configMapPrefix = "nodewright-reconciler-config-"

// crdNames returns the names of the generated CRDs, read from crd/bases.
func crdNames(t *testing.T) []string {
	t.Helper()
	files, docs := crd.Files()
	require.NotEmpty(t, files)
	var names []string
	for i, doc := range docs {
		var meta struct {
			Metadata struct{ Name string } `json:"metadata"`
		}
		require.NoError(t, yaml.Unmarshal(doc, &meta), files[i])
		names = append(names, meta.Metadata.Name)
	}
	return names
}

// id names an object as kind/namespace/name, with the content hash of a
// generated ConfigMap replaced by <hash>.
func id(o *unstructured.Unstructured) string {
	name := o.GetName()
	if o.GetKind() == "ConfigMap" && strings.HasPrefix(name, configMapPrefix) {
		name = configMapPrefix + "<hash>"
	}
	return o.GetKind() + "/" + o.GetNamespace() + "/" + name
}

func TestDefaultRendersExactlyTheseObjects(t *testing.T) {
	objs := render(t, "config/default")

	want := []string{
		"Namespace//nodewright-system",
		"Namespace//nodewright-agent",
		"ServiceAccount/nodewright-system/nodewright-reconciler",
		"ServiceAccount/nodewright-agent/nodewright-agent",
		"ClusterRole//nodewright-reconciler",
		"ClusterRoleBinding//nodewright-reconciler",
		"Role/nodewright-system/nodewright-reconciler",
		"RoleBinding/nodewright-system/nodewright-reconciler",
		"Role/nodewright-system/nodewright-leader-election",
		"RoleBinding/nodewright-system/nodewright-leader-election",
		"ClusterRole//nodewright-agent",
		"ClusterRoleBinding//nodewright-agent",
		"Role/nodewright-system/nodewright-agent",
		"RoleBinding/nodewright-system/nodewright-agent",
		"ConfigMap/nodewright-system/" + configMapPrefix + "<hash>",
		"Deployment/nodewright-system/nodewright-reconciler",
		"DaemonSet/nodewright-agent/nodewright-agent",
		"Service/nodewright-system/nodewright-webhook",
		"ValidatingWebhookConfiguration//nodewright-validating",
	}
	for _, name := range crdNames(t) {
		want = append(want, "CustomResourceDefinition//"+name)
	}
	var got []string
	for _, o := range objs {
		got = append(got, id(o))
	}
	assert.ElementsMatch(t, want, got, "no Service but the webhook's, nothing unlisted")

	for _, o := range objs {
		assert.Equal(t, "nodewright", o.GetLabels()["app.kubernetes.io/part-of"], "%s is labelled", id(o))
	}
	require.Greater(t, len(got), 2)
	assert.ElementsMatch(t, []string{"Namespace//nodewright-system", "Namespace//nodewright-agent"}, got[:2], "the namespaces are applied first")
	assert.Equal(t, "ValidatingWebhookConfiguration//nodewright-validating", got[len(got)-1],
		"the webhook configuration is applied last, after the Deployment that serves it")
	cm := find(t, objs, "ConfigMap", configMapPrefix)
	assert.Greater(t, len(cm.GetName()), len(configMapPrefix), "the ConfigMap name carries a content hash, so an edit rolls the Deployment")

	for _, want := range []struct{ namespace, level string }{
		// The reconciler, the trust root and the webhook's certificate.
		{namespace, "restricted"},
		// The agent alone: host network, root with NET_ADMIN, a hostPath.
		{agentNamespace, "privileged"},
	} {
		ns := &corev1.Namespace{}
		typed(t, find(t, objs, "Namespace", want.namespace), ns)
		for _, mode := range []string{"enforce", "warn", "audit"} {
			assert.Equal(t, want.level, ns.Labels["pod-security.kubernetes.io/"+mode], "%s: Pod Security %s", want.namespace, mode)
		}
	}
}

func TestCRDKustomizationListsEveryGeneratedCRD(t *testing.T) {
	var got []string
	for _, o := range render(t, "config/crd") {
		require.Equal(t, "CustomResourceDefinition", o.GetKind())
		got = append(got, o.GetName())
	}
	assert.ElementsMatch(t, crdNames(t), got, "config/crd/kustomization.yaml lists every file of config/crd/bases")
}

// reconcilerDeployment returns the rendered Deployment and its container.
func reconcilerDeployment(t *testing.T, objs []*unstructured.Unstructured) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	dep := &appsv1.Deployment{}
	typed(t, find(t, objs, "Deployment", "nodewright-reconciler"), dep)
	require.Len(t, dep.Spec.Template.Spec.Containers, 1)
	return dep, &dep.Spec.Template.Spec.Containers[0]
}

func TestDeploymentRunsTheReconciler(t *testing.T) {
	dep, c := reconcilerDeployment(t, render(t, "config/default"))

	require.NotNil(t, dep.Spec.Replicas)
	assert.EqualValues(t, 2, *dep.Spec.Replicas, "two replicas: leader election is on")
	assert.Equal(t, "nodewright-reconciler", dep.Spec.Template.Spec.ServiceAccountName)
	assert.Equal(t, "nodewright:dev", c.Image, "the images: entry of config/default applies")
	assert.Equal(t, []string{"nodewright", "reconciler", "--config", "/etc/nodewright/reconciler.yaml"}, append(slices.Clone(c.Command), c.Args...))
	assert.Empty(t, dep.Spec.Template.Spec.InitContainers)
	assert.False(t, dep.Spec.Template.Spec.HostNetwork)
	assert.False(t, dep.Spec.Template.Spec.HostPID)

	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	assert.Equal(t, map[string]int32{"metrics": 8080, "health": 8081, "webhook": 9443}, ports)

	for _, probe := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"liveness", c.LivenessProbe, "/healthz"},
		{"readiness", c.ReadinessProbe, "/readyz"},
	} {
		t.Run(probe.name, func(t *testing.T) {
			require.NotNil(t, probe.probe)
			require.NotNil(t, probe.probe.HTTPGet)
			assert.Equal(t, probe.path, probe.probe.HTTPGet.Path)
			assert.EqualValues(t, 8081, portNumber(t, c, probe.probe.HTTPGet.Port))
		})
	}

	limit := c.Resources.Limits[corev1.ResourceMemory]
	assert.Zero(t, limit.Cmp(resource.MustParse("256Mi")), "memory limit is 256Mi, not %s", limit.String())
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		request, hasRequest := c.Resources.Requests[name]
		limit, hasLimit := c.Resources.Limits[name]
		if assert.True(t, hasRequest && hasLimit, "%s has a request and a limit", name) {
			assert.LessOrEqual(t, request.Cmp(limit), 0, "%s request is within its limit", name)
		}
	}
}

// portNumber resolves a probe's port, by number or by the container port's
// name.
func portNumber(t *testing.T, c *corev1.Container, port intstr.IntOrString) int32 {
	t.Helper()
	if port.Type == intstr.Int {
		return port.IntVal
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return p.ContainerPort
		}
	}
	t.Fatalf("no container port named %q", port.StrVal)
	return 0
}

func TestDeploymentIsLockedDown(t *testing.T) {
	dep, c := reconcilerDeployment(t, render(t, "config/default"))
	pod := dep.Spec.Template.Spec.SecurityContext
	require.NotNil(t, pod)
	sc := c.SecurityContext
	require.NotNil(t, sc)

	checks := []struct {
		name string
		ok   bool
	}{
		{"pod runs as non-root", pod.RunAsNonRoot != nil && *pod.RunAsNonRoot},
		{"pod runs as a non-zero uid", pod.RunAsUser != nil && *pod.RunAsUser != 0},
		{"pod seccomp RuntimeDefault", pod.SeccompProfile != nil && pod.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
		{"container runs as non-root", sc.RunAsNonRoot != nil && *sc.RunAsNonRoot},
		{"container seccomp RuntimeDefault", sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
		{"read-only root filesystem", sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem},
		{"no privilege escalation", sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation},
		{"not privileged", sc.Privileged == nil || !*sc.Privileged},
		{"drops all capabilities", sc.Capabilities != nil && slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"})},
		{"adds no capability", sc.Capabilities != nil && len(sc.Capabilities.Add) == 0},
	}
	for _, check := range checks {
		t.Run(check.name, func(t *testing.T) { assert.True(t, check.ok) })
	}
}

// reconcilerConfig is the reconciler's configuration file. Decoding into it
// is strict, so a key the reconciler does not read fails the test.
type reconcilerConfig struct {
	ClusterName            string `json:"clusterName"`
	Site                   string `json:"site"`
	Namespace              string `json:"namespace"`
	TrustRoot              string `json:"trustRoot"`
	StateDir               string `json:"stateDir"`
	LeaderElect            bool   `json:"leaderElect"`
	MetricsBindAddress     string `json:"metricsBindAddress"`
	HealthProbeBindAddress string `json:"healthProbeBindAddress"`
	Audit                  struct {
		File     string `json:"file"`
		URL      string `json:"url"`
		SpoolDir string `json:"spoolDir"`
	} `json:"audit"`
	Webhook             webhookConfig `json:"webhook"`
	AgentServiceAccount string        `json:"agentServiceAccount"`
	AgentNamespace      string        `json:"agentNamespace"`
}

// webhookConfig is the webhook block of the configuration file.
type webhookConfig struct {
	Port              int32  `json:"port"`
	CertDir           string `json:"certDir"`
	Certs             string `json:"certs"`
	SecretName        string `json:"secretName"`
	ServiceName       string `json:"serviceName"`
	ConfigurationName string `json:"configurationName"`
}

// mountOf returns the container's mount of the named volume.
func mountOf(t *testing.T, c *corev1.Container, volume string) corev1.VolumeMount {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			return m
		}
	}
	t.Fatalf("volume %s is not mounted", volume)
	return corev1.VolumeMount{}
}

// volumeOf returns the pod's volume of that name.
func volumeOf(t *testing.T, dep *appsv1.Deployment, name string) corev1.Volume {
	t.Helper()
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no volume %s", name)
	return corev1.Volume{}
}

func TestReconcilerConfigHasTheKeysTheReconcilerReads(t *testing.T) {
	objs := render(t, "config/default")
	cm := &corev1.ConfigMap{}
	typed(t, find(t, objs, "ConfigMap", configMapPrefix), cm)
	require.Equal(t, []string{"reconciler.yaml"}, slices.Sorted(maps.Keys(cm.Data)))
	data := cm.Data["reconciler.yaml"]

	var keys map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(data), &keys))
	assert.ElementsMatch(t, []string{"clusterName", "site", "namespace", "trustRoot", "stateDir", "leaderElect",
		"metricsBindAddress", "healthProbeBindAddress", "audit", "webhook", "agentServiceAccount", "agentNamespace"}, slices.Collect(maps.Keys(keys)))
	audit, ok := keys["audit"].(map[string]any)
	require.True(t, ok, "audit is a mapping")
	assert.ElementsMatch(t, []string{"file", "url", "spoolDir"}, slices.Collect(maps.Keys(audit)))
	hook, ok := keys["webhook"].(map[string]any)
	require.True(t, ok, "webhook is a mapping")
	assert.ElementsMatch(t, []string{"port", "certDir", "certs", "secretName", "serviceName", "configurationName"}, slices.Collect(maps.Keys(hook)))

	var cfg reconcilerConfig
	require.NoError(t, yaml.UnmarshalStrict([]byte(data), &cfg))
	assert.Equal(t, reconcilerConfig{
		ClusterName:            "edge-001",
		Site:                   "edge-001",
		Namespace:              namespace,
		TrustRoot:              "/etc/nodewright/trust/trust.yaml",
		StateDir:               "/var/lib/nodewright",
		LeaderElect:            true,
		MetricsBindAddress:     ":8080",
		HealthProbeBindAddress: ":8081",
		Audit: struct {
			File     string `json:"file"`
			URL      string `json:"url"`
			SpoolDir string `json:"spoolDir"`
		}{File: "/var/lib/nodewright/audit.jsonl", URL: "", SpoolDir: "/var/lib/nodewright/audit-spool"},
		Webhook: webhookConfig{
			Port:              9443,
			CertDir:           "/var/run/nodewright/webhook",
			Certs:             "self",
			SecretName:        "nodewright-webhook-cert",
			ServiceName:       "nodewright-webhook",
			ConfigurationName: "nodewright-validating",
		},
		AgentServiceAccount: agent,
		AgentNamespace:      agentNamespace,
	}, cfg)

	// The file agrees with the Deployment that runs it.
	dep, c := reconcilerDeployment(t, objs)
	t.Run("config file is mounted where --config points", func(t *testing.T) {
		m := mountOf(t, c, "config")
		assert.Equal(t, c.Args[slices.Index(c.Args, "--config")+1], m.MountPath)
		assert.Equal(t, "reconciler.yaml", m.SubPath)
		v := volumeOf(t, dep, "config")
		require.NotNil(t, v.ConfigMap)
		assert.Equal(t, cm.Name, v.ConfigMap.Name, "the Deployment names the hashed ConfigMap")
	})
	t.Run("trustRoot is the Secret's trust.yaml", func(t *testing.T) {
		m := mountOf(t, c, "trust-root")
		assert.True(t, m.ReadOnly)
		v := volumeOf(t, dep, "trust-root")
		require.NotNil(t, v.Secret)
		assert.Equal(t, "nodewright-trust-root", v.Secret.SecretName)
		assert.False(t, v.Secret.Optional != nil && *v.Secret.Optional, "a missing trust root stops the pod from starting")
		require.Len(t, v.Secret.Items, 1)
		assert.Equal(t, "trust.yaml", v.Secret.Items[0].Key)
		assert.Equal(t, cfg.TrustRoot, filepath.Join(m.MountPath, v.Secret.Items[0].Path))
	})
	t.Run("stateDir is a writable emptyDir holding the audit files", func(t *testing.T) {
		m := mountOf(t, c, "state")
		assert.Equal(t, cfg.StateDir, m.MountPath)
		assert.False(t, m.ReadOnly)
		assert.NotNil(t, volumeOf(t, dep, "state").EmptyDir, "a cache: the ratchet lives in the FleetSource status")
		assert.True(t, strings.HasPrefix(cfg.Audit.File, cfg.StateDir+"/"))
		assert.True(t, strings.HasPrefix(cfg.Audit.SpoolDir, cfg.StateDir+"/"))
	})
	t.Run("bind addresses match the container ports and probes", func(t *testing.T) {
		assert.Equal(t, ":"+strconv.Itoa(int(portNumber(t, c, intstr.FromString("metrics")))), cfg.MetricsBindAddress)
		assert.Equal(t, ":"+strconv.Itoa(int(portNumber(t, c, c.LivenessProbe.HTTPGet.Port))), cfg.HealthProbeBindAddress)
	})
	t.Run("webhook port and certDir match the container port and mount", func(t *testing.T) {
		assert.Equal(t, cfg.Webhook.Port, portNumber(t, c, intstr.FromString("webhook")))
		m := mountOf(t, c, "webhook-certs")
		assert.Equal(t, cfg.Webhook.CertDir, m.MountPath)
		assert.False(t, m.ReadOnly, "with certs: self the reconciler writes its certificate there")
		v := volumeOf(t, dep, "webhook-certs")
		require.NotNil(t, v.EmptyDir, "the root filesystem is read-only")
		require.NotNil(t, v.EmptyDir.SizeLimit)
		assert.Zero(t, v.EmptyDir.SizeLimit.Cmp(resource.MustParse("1Mi")), "sizeLimit %s", v.EmptyDir.SizeLimit)
	})
	t.Run("webhook names are the rendered objects'", func(t *testing.T) {
		find(t, objs, "Service", cfg.Webhook.ServiceName)
		find(t, objs, "ValidatingWebhookConfiguration", cfg.Webhook.ConfigurationName)
	})
	t.Run("agentServiceAccount and agentNamespace are the agent DaemonSet's", func(t *testing.T) {
		sa := find(t, objs, "ServiceAccount", cfg.AgentServiceAccount)
		assert.Equal(t, cfg.AgentNamespace, sa.GetNamespace())
		ds, agentC, _ := agentDaemonSet(t, objs)
		assert.Equal(t, cfg.AgentNamespace, ds.Namespace)
		assert.Equal(t, cfg.AgentServiceAccount, ds.Spec.Template.Spec.ServiceAccountName)
		assert.Contains(t, agentC.Args, "--namespace="+cfg.Namespace, "the agents watch NodeTasks where the reconciler writes them")
	})
	t.Run("namespace is where kustomize puts the reconciler", func(t *testing.T) {
		assert.Equal(t, dep.Namespace, cfg.Namespace)
	})
	t.Run("site matches the sample FleetSource", func(t *testing.T) {
		fs := &v1.FleetSource{}
		typed(t, find(t, render(t, "config/samples"), "FleetSource", "fleet"), fs)
		assert.Equal(t, fs.Spec.Site, cfg.Site)
	})
}

// TestImageIsSetByTheImagesEntry proves that the images: entry of
// config/default matches the container's image name, so `kustomize edit set
// image nodewright=...` (which rewrites that entry) or an overlay sets it.
func TestImageIsSetByTheImagesEntry(t *testing.T) {
	overlay := t.TempDir()
	// Kustomize refuses an absolute path to a base.
	base, err := filepath.Rel(overlay, filepath.Join(envtest.ModuleRoot(), "config", "default"))
	require.NoError(t, err)
	kustomization := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - " + base +
		"\nimages:\n  - name: nodewright\n    newName: mirror/nodewright\n    newTag: v1.2.3\n"
	require.NoError(t, os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kustomization), 0o644))

	objs := render(t, overlay)
	_, c := reconcilerDeployment(t, objs)
	assert.Equal(t, "mirror/nodewright:v1.2.3", c.Image)
	_, agentC, watchdog := agentDaemonSet(t, objs)
	assert.Equal(t, "mirror/nodewright:v1.2.3", agentC.Image, "the agent runs the reconciler's image")
	assert.Equal(t, "mirror/nodewright:v1.2.3", watchdog.Image, "the watchdog runs the reconciler's image")
}

func TestSampleFleetSource(t *testing.T) {
	objs := render(t, "config/samples")
	require.Len(t, objs, 1)
	fs := &v1.FleetSource{}
	typed(t, objs[0], fs)
	assert.Equal(t, namespace, fs.Namespace, "next to the reconciler, whose Role reads FleetSources there only")
	assert.Equal(t, "edge-001", fs.Spec.Site)
	assert.True(t, strings.HasPrefix(fs.Spec.Repo, "https://"), fs.Spec.Repo)
	assert.Equal(t, v1.SecretKeyReference{Name: "nodewright-trust-root", Key: "trust.yaml"}, fs.Spec.TrustRoot,
		"the same Secret the reconciler mounts")
}
