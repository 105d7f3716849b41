package config_test

import (
	"cmp"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/config/webhook"
)

// certManagerOverlay is config/default with the cert-manager component, as
// "Admission webhooks" in config/README.md tells a user to write it.
const certManagerOverlay = "config/testdata/cert-manager"

// The component's cert-manager objects: a self-signed Issuer signs the CA
// Certificate, and the CA Issuer signs the serving Certificate with it.
// cert-manager's CRDs are not in the test API server, so these are checked as
// rendered and never created.
const (
	selfSignedIssuerName = "nodewright-selfsigned"
	caCertificateName    = "nodewright-webhook-ca"
	caSecretName         = "nodewright-webhook-ca"
	caIssuerName         = "nodewright-ca"
	certificateName      = "nodewright-webhook"
)

func TestCertManagerComponentAddsTheIssuersAndCertificatesOnly(t *testing.T) {
	var want, got []string
	for _, o := range render(t, "config/default") {
		want = append(want, id(o))
	}
	want = append(want,
		"Issuer/nodewright-system/"+selfSignedIssuerName,
		"Issuer/nodewright-system/"+caIssuerName,
		"Certificate/nodewright-system/"+caCertificateName,
		"Certificate/nodewright-system/"+certificateName,
	)
	objs := render(t, certManagerOverlay)
	for _, o := range objs {
		got = append(got, id(o))
		assert.Equal(t, "nodewright", o.GetLabels()["app.kubernetes.io/part-of"], "%s is labelled", id(o))
	}
	assert.ElementsMatch(t, want, got)

	issuerRef := func(name string) map[string]any {
		return map[string]any{"group": "cert-manager.io", "kind": "Issuer", "name": name}
	}

	selfSigned := find(t, objs, "Issuer", selfSignedIssuerName)
	assert.Equal(t, "cert-manager.io/v1", selfSigned.GetAPIVersion())
	assert.Equal(t, map[string]any{"selfSigned": map[string]any{}}, selfSigned.Object["spec"])

	ca := find(t, objs, "Certificate", caCertificateName)
	assert.Equal(t, "cert-manager.io/v1", ca.GetAPIVersion())
	assert.Equal(t, map[string]any{
		"isCA":        true,
		"commonName":  caCertificateName,
		"secretName":  caSecretName,
		"privateKey":  map[string]any{"algorithm": "ECDSA", "size": float64(256)},
		"duration":    "87600h",
		"renewBefore": "720h",
		"issuerRef":   issuerRef(selfSignedIssuerName),
	}, ca.Object["spec"], "a 10-year CA, signed by the self-signed Issuer")

	caIssuer := find(t, objs, "Issuer", caIssuerName)
	assert.Equal(t, "cert-manager.io/v1", caIssuer.GetAPIVersion())
	assert.Equal(t, map[string]any{"ca": map[string]any{"secretName": caSecretName}}, caIssuer.Object["spec"],
		"the CA Issuer signs with the CA Certificate's Secret")

	cert := find(t, objs, "Certificate", certificateName)
	assert.Equal(t, "cert-manager.io/v1", cert.GetAPIVersion())
	svc := webhook.ServiceName + "." + namespace + ".svc"
	assert.Equal(t, map[string]any{
		"secretName":  webhook.SecretName,
		"dnsNames":    []any{svc, svc + ".cluster.local"},
		"privateKey":  map[string]any{"algorithm": "ECDSA", "size": float64(256)},
		"duration":    "2160h",
		"renewBefore": "720h",
		"issuerRef":   issuerRef(caIssuerName),
	}, cert.Object["spec"], "the serving certificate is signed by the CA, not self-signed")
}

func TestCertManagerComponentInjectsTheCAIntoTheWebhooks(t *testing.T) {
	base := renderedWebhooks(t, render(t, "config/default"))
	got := renderedWebhooks(t, render(t, certManagerOverlay))

	// From the serving Certificate: its Secret's ca.crt is the CA, which a
	// serving renewal does not change.
	assert.Equal(t, map[string]string{"cert-manager.io/inject-ca-from": namespace + "/" + certificateName}, got.Annotations)
	got.Annotations = nil
	assert.Equal(t, base, got, "nothing else changes")
}

// sortedPod orders the template's volumes and the container's mounts by
// name: a strategic merge patch moves the entries it patches to the front.
func sortedPod(dep *appsv1.Deployment) {
	spec := &dep.Spec.Template.Spec
	slices.SortFunc(spec.Volumes, func(a, b corev1.Volume) int { return cmp.Compare(a.Name, b.Name) })
	for i := range spec.Containers {
		slices.SortFunc(spec.Containers[i].VolumeMounts, func(a, b corev1.VolumeMount) int { return cmp.Compare(a.Name, b.Name) })
	}
}

func TestCertManagerComponentMountsTheSecret(t *testing.T) {
	want, _ := reconcilerDeployment(t, render(t, "config/default"))
	got, c := reconcilerDeployment(t, render(t, certManagerOverlay))

	v := volumeOf(t, got, "webhook-certs")
	assert.Nil(t, v.EmptyDir, "the Secret replaces the emptyDir")
	require.NotNil(t, v.Secret)
	assert.Equal(t, webhook.SecretName, v.Secret.SecretName)
	assert.False(t, v.Secret.Optional != nil && *v.Secret.Optional, "the pod waits for cert-manager's Secret")
	m := mountOf(t, c, "webhook-certs")
	assert.True(t, m.ReadOnly)
	assert.Equal(t, "--webhook-certs=files", c.Args[len(c.Args)-1], "the reconciler serves the files and issues nothing")

	// Nothing else changes.
	spec := &want.Spec.Template.Spec
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == "webhook-certs" {
			spec.Volumes[i].VolumeSource = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: webhook.SecretName}}
		}
	}
	wc := &spec.Containers[0]
	for i := range wc.VolumeMounts {
		if wc.VolumeMounts[i].Name == "webhook-certs" {
			wc.VolumeMounts[i].ReadOnly = true
		}
	}
	wc.Args = append(wc.Args, "--webhook-certs=files")
	sortedPod(want)
	sortedPod(got)
	assert.Equal(t, want, got)
}

// TestCertManagerPodMeetsRestrictedPodSecurity creates (as a dry run) a pod
// from the overlay's Deployment: a Secret volume is allowed under the
// restricted standard.
func TestCertManagerPodMeetsRestrictedPodSecurity(t *testing.T) {
	installDefault(t)
	dep, _ := reconcilerDeployment(t, render(t, certManagerOverlay))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "reconciler-cert-manager", Namespace: dep.Namespace, Labels: dep.Spec.Template.Labels},
		Spec:       *dep.Spec.Template.Spec.DeepCopy(),
	}
	require.NoError(t, env.Client.Create(t.Context(), pod, client.DryRunAll))
}
