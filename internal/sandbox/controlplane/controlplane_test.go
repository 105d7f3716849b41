package controlplane_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/internal/sandbox/controlplane"
)

// Without the binaries Start says which is missing, where it looked and
// how to build them, and starts nothing.
func TestStartWithoutBinaries(t *testing.T) {
	dir := t.TempDir()
	_, err := controlplane.Start(controlplane.Options{AssetsDir: dir})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kube-apiserver is missing from "+dir)
	assert.Contains(t, err.Error(), "make controlplane")
}

// The default is $KUBEBUILDER_ASSETS, else k8s/ beside the executable.
func TestDefaultAssetsDir(t *testing.T) {
	t.Setenv(controlplane.AssetsEnv, "/opt/k8s")
	dir, source, err := controlplane.DefaultAssetsDir()
	require.NoError(t, err)
	assert.Equal(t, "/opt/k8s", dir)
	assert.Equal(t, controlplane.AssetsEnv, source)

	t.Setenv(controlplane.AssetsEnv, "")
	dir, source, err = controlplane.DefaultAssetsDir()
	require.NoError(t, err)
	assert.Equal(t, "k8s", filepath.Base(dir))
	assert.Contains(t, source, "beside the executable")
}

// A CRD directory that does not exist is an error before anything starts.
func TestStartMissingCRDDirectory(t *testing.T) {
	t.Setenv(controlplane.AssetsEnv, "")
	_, err := controlplane.Start(controlplane.Options{AssetsDir: t.TempDir(), CRDDirs: []string{filepath.Join(t.TempDir(), "none")}})
	assert.Error(t, err)
}
