package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// linstorOverlay is config/default with the linstor component, as the
// component's comment tells a user to write it.
const linstorOverlay = "config/testdata/linstor"

// linstorDir is where the component mounts the Secret nodewright-linstor.
const linstorDir = "/etc/nodewright/linstor"

func TestLINSTORComponentMountsTheSecretOnly(t *testing.T) {
	want, _ := reconcilerDeployment(t, render(t, "config/default"))
	got, c := reconcilerDeployment(t, render(t, linstorOverlay))

	v := volumeOf(t, got, "linstor")
	require.NotNil(t, v.Secret)
	assert.Equal(t, "nodewright-linstor", v.Secret.SecretName)
	require.NotNil(t, v.Secret.DefaultMode)
	assert.Equal(t, int32(0o400), *v.Secret.DefaultMode, "credentials readable by their owner only")
	m := mountOf(t, c, "linstor")
	assert.True(t, m.ReadOnly)
	assert.Equal(t, linstorDir, m.MountPath)

	// Nothing else changes.
	spec := &got.Spec.Template.Spec
	spec.Volumes = removeVolume(spec.Volumes, "linstor")
	gc := &spec.Containers[0]
	for i := range gc.VolumeMounts {
		if gc.VolumeMounts[i].Name == "linstor" {
			gc.VolumeMounts = append(gc.VolumeMounts[:i], gc.VolumeMounts[i+1:]...)
			break
		}
	}
	sortedPod(want)
	sortedPod(got)
	assert.Equal(t, want, got)
}

func removeVolume(vs []corev1.Volume, name string) []corev1.Volume {
	for i := range vs {
		if vs[i].Name == name {
			return append(vs[:i], vs[i+1:]...)
		}
	}
	return vs
}

// TestLINSTORFilesOfTheSampleConfigAreInTheMount checks every file the
// sample configuration's (commented) linstor keys name lies in the
// component's mount, so turning the keys on finds the Secret's files.
func TestLINSTORFilesOfTheSampleConfigAreInTheMount(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("manager", "reconciler.yaml"))
	require.NoError(t, err)
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		_, value, ok := strings.Cut(line, "File: ")
		if !ok || !strings.Contains(line, "#") {
			continue
		}
		value, _, _ = strings.Cut(strings.TrimSpace(value), " ")
		assert.Equal(t, linstorDir, filepath.Dir(value), "%s", strings.TrimSpace(line))
		n++
	}
	assert.GreaterOrEqual(t, n, 5, "caFile, certFile, keyFile, passwordFile, bearerTokenFile")
}

// TestLINSTORPodMeetsRestrictedPodSecurity creates (as a dry run) a pod
// from the overlay's Deployment: a Secret volume is allowed under the
// restricted standard.
func TestLINSTORPodMeetsRestrictedPodSecurity(t *testing.T) {
	installDefault(t)
	dep, _ := reconcilerDeployment(t, render(t, linstorOverlay))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "reconciler-linstor", Namespace: dep.Namespace, Labels: dep.Spec.Template.Labels},
		Spec:       *dep.Spec.Template.Spec.DeepCopy(),
	}
	require.NoError(t, env.Client.Create(t.Context(), pod, client.DryRunAll))
}
