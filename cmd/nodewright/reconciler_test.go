package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestReconcilerLINSTORSettings(t *testing.T) {
	base := []string{"reconciler", "--cluster-name", "a", "--site", "b", "--state-dir", t.TempDir()}
	_, stderr, code := nodewright(t, append(base, "--linstor-controller", "http://ok:3370", "--linstor-controller", "ftp://x")...)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, `linstor.controllers[1] "ftp://x" is not an http or https URL`)

	cfg := filepath.Join(t.TempDir(), "r.yaml")
	missing := filepath.Join(t.TempDir(), "password")
	assert.NoError(t, os.WriteFile(cfg, []byte("linstor:\n  controllers: [http://linstor:3370]\n  basicAuth: {username: nodewright, passwordFile: "+missing+"}\n"), 0o600))
	_, stderr, code = nodewright(t, append(base, "--config", cfg)...)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "linstor: password file", "the Secret's files are read before anything starts")
}
