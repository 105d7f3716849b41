package linstor_test

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler/backend/linstor"
)

func TestNewRefusesBadSettings(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	require.NoError(t, os.WriteFile(pw, []byte("s3cret\n"), 0o600))
	for _, tc := range []struct {
		name string
		cfg  linstor.Config
		want string
	}{
		{"none", linstor.Config{}, "no controller URL"},
		{"scheme", linstor.Config{Controllers: []string{"linstor:3370"}}, "is not an http or https URL"},
		{"tls over http", linstor.Config{Controllers: []string{"http://a"}, CAFile: "/ca"}, "is not https, but TLS files are set"},
		{"both auths", linstor.Config{Controllers: []string{"http://a"}, Username: "u", PasswordFile: pw, BearerTokenFile: pw}, "exclude each other"},
		{"half basic", linstor.Config{Controllers: []string{"http://a"}, Username: "u"}, "both a username and a password file"},
		{"missing password", linstor.Config{Controllers: []string{"http://a"}, Username: "u", PasswordFile: filepath.Join(dir, "nope")}, "password file"},
		{"missing CA", linstor.Config{Controllers: []string{"https://a"}, CAFile: filepath.Join(dir, "nope")}, "CA file"},
		{"CA not PEM", linstor.Config{Controllers: []string{"https://a"}, CAFile: pw}, "holds no PEM certificate"},
		{"cert without key", linstor.Config{Controllers: []string{"https://a"}, CertFile: pw}, "both a certificate and a key file"},
		{"bad pair", linstor.Config{Controllers: []string{"https://a"}, CertFile: pw, KeyFile: pw}, "client certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := linstor.New(tc.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestAuthAndTLSReachTheController puts an https front with basic auth
// before the emulator: the backend trusts it by the CA file and sends the
// password read from its file.
func TestAuthAndTLSReachTheController(t *testing.T) {
	emu, _ := site(t)
	target, err := url.Parse(emu.URL())
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "nodewright" || p != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`[{"ret_code":-4611686018427377904,"message":"Sign in failed"}]`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw}), 0o600))
	pw := filepath.Join(dir, "password")
	require.NoError(t, os.WriteFile(pw, []byte("s3cret\n"), 0o600))

	s, err := linstor.New(linstor.Config{Controllers: []string{front.URL}, Timeout: 5 * time.Second, CAFile: ca, Username: "nodewright", PasswordFile: pw})
	require.NoError(t, err)
	g, err := s.ResourceGroup(context.Background(), "rg")
	require.NoError(t, err)
	assert.Len(t, g.Resources, 2)

	require.NoError(t, os.WriteFile(pw, []byte("wrong"), 0o600))
	s, err = linstor.New(linstor.Config{Controllers: []string{front.URL}, Timeout: 5 * time.Second, CAFile: ca, Username: "nodewright", PasswordFile: pw})
	require.NoError(t, err)
	_, err = s.ResourceGroup(context.Background(), "rg")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refused: Sign in failed", "a failed sign-in halts, a retry would not pass")
}
