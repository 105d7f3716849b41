package bundle_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/nodewright/nodewright/fleet/bundle"
	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/trust"
)

var manifestTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// inProcessKey makes an SSH signing key and a policy whose committer holds
// it, without ssh-keygen, for fuzzing and table tests.
func inProcessKey(t testing.TB) (*bundle.SigningKey, *trust.Policy) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	key, err := bundle.ParseSigningKey(pem.EncodeToMemory(block))
	require.NoError(t, err)
	sshPub, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
	policy, err := trust.Parse("policy.yaml", []byte(fmt.Sprintf(`apiVersion: nodewright.io/v1alpha1
kind: TrustPolicy
version: 1
principals:
  - name: ops
    keys:
      - ssh: %q
roles:
  committers: {principals: [ops], threshold: 1}
  trust-admins: {principals: [ops], threshold: 1}
`, line)))
	require.NoError(t, err)
	return key, policy
}

func sampleManifest() bundle.Manifest {
	return bundle.Manifest{
		APIVersion:         "nodewright.io/v1alpha1",
		Kind:               bundle.ManifestKind,
		Type:               bundle.Fleet,
		Origin:             "0123456789abcdef0123456789abcdef",
		Branch:             "main",
		Cluster:            "edge-042",
		Sequence:           7,
		Tip:                strings.Repeat("a", 40),
		Prerequisites:      []string{strings.Repeat("b", 40)},
		Commits:            10,
		Bundle:             bundle.FileDigest{Size: 4096, SHA256: strings.Repeat("c", 64)},
		StatusAcknowledged: strings.Repeat("d", 40),
		Created:            manifestTime,
	}
}

func TestManifestSignParseVerify(t *testing.T) {
	t.Parallel()
	key, policy := inProcessKey(t)
	m := sampleManifest()
	data, err := m.Sign(key, manifestTime)
	require.NoError(t, err)
	sm, err := bundle.ParseManifest(data)
	require.NoError(t, err)
	assert.Equal(t, m, sm.Manifest)
	signer, err := sm.Verify(policy.Keyring(), manifestTime)
	require.NoError(t, err)
	assert.Equal(t, "ops", signer.Principal)
	assert.Equal(t, key.ID(), signer.Key)

	_, other := inProcessKey(t)
	_, err = sm.Verify(other.Keyring(), manifestTime)
	assert.Equal(t, reason.UnknownKey, reason.CodeOf(err))
}

func TestParseManifestRejects(t *testing.T) {
	t.Parallel()
	key, _ := inProcessKey(t)
	m := sampleManifest()
	valid, err := m.Sign(key, manifestTime)
	require.NoError(t, err)
	payload, sig, _ := bytes.Cut(valid, []byte("-----BEGIN"))
	sig = append([]byte("-----BEGIN"), sig...)
	edit := func(from, to string) []byte {
		out := bytes.Replace(valid, []byte(from), []byte(to), 1)
		require.NotEqual(t, valid, out, "edit %q", from)
		return out
	}
	mutate := func(f func(*bundle.Manifest)) []byte {
		m := sampleManifest()
		f(&m)
		// Validate refuses before signing; render the JSON by hand.
		data, err := (&m).MarshalForTest()
		require.NoError(t, err)
		return append(data, sig...)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"unknown field", edit(`"branch"`, `"extra": 1, "branch"`), `unknown field "extra"`},
		{"trailing data", append(append(append([]byte{}, payload...), "{}\n"...), sig...), "data after the document"},
		{"wrong type", edit(`"sequence": 7`, `"sequence": "7"`), "cannot unmarshal string"},
		{"sequence zero", mutate(func(m *bundle.Manifest) { m.Sequence = 0 }), "sequence must be at least 1"},
		{"short tip", mutate(func(m *bundle.Manifest) { m.Tip = "abc" }), `tip "abc" is not a 40-hex commit id`},
		{"upper-case tip", mutate(func(m *bundle.Manifest) { m.Tip = strings.Repeat("A", 40) }), "is not a 40-hex commit id"},
		{"bad branch", mutate(func(m *bundle.Manifest) { m.Branch = "a..b" }), "is not a valid branch name"},
		{"bad cluster", mutate(func(m *bundle.Manifest) { m.Cluster = "../edge" }), "is not a cluster name"},
		{"status without cluster", mutate(func(m *bundle.Manifest) { m.Type, m.Cluster, m.StatusAcknowledged = bundle.Status, "", "" }), "a status bundle names its cluster"},
		{"unknown type", mutate(func(m *bundle.Manifest) { m.Type = "other" }), `type "other"`},
		{"duplicate prerequisite", mutate(func(m *bundle.Manifest) { m.Prerequisites = append(m.Prerequisites, m.Prerequisites[0]) }), "is listed twice"},
		{"bad digest", mutate(func(m *bundle.Manifest) { m.Bundle.SHA256 = "zz" }), "bundle.sha256"},
		{"no created", mutate(func(m *bundle.Manifest) { m.Created = time.Time{} }), "created is required"},
		{"text after signature", append(append([]byte{}, valid...), "more\n"...), "not the last thing"},
		{"two signatures", append(append([]byte{}, valid...), sig...), "not the last thing"},
		{"not a signature", append(append([]byte{}, payload...), "-----BEGIN PGP MESSAGE-----\n"...), "neither an SSH nor an OpenPGP signature"},
		{"too large", append(bytes.Repeat([]byte(" "), bundle.MaxManifestSize), valid...), "more than the"},
		{"empty", nil, "manifest JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := bundle.ParseManifest(c.data)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}

	sm, err := bundle.ParseManifest(payload)
	assert.True(t, errors.Is(err, bundle.ErrUnsigned))
	require.NotNil(t, sm)
	assert.Equal(t, uint64(7), sm.Sequence)
}

// FuzzParseManifest feeds the manifest parser arbitrary files. It must
// never panic; what it accepts must validate, verify without panicking and
// survive signing and parsing again unchanged.
func FuzzParseManifest(f *testing.F) {
	key, policy := inProcessKey(f)
	m := sampleManifest()
	valid, err := m.Sign(key, manifestTime)
	require.NoError(f, err)
	payload, _, _ := bytes.Cut(valid, []byte("-----BEGIN"))
	f.Add(valid)
	f.Add(payload)
	f.Add([]byte("{}\n-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"))
	f.Add(append(append([]byte{}, payload...), "-----BEGIN PGP SIGNATURE-----\n\nwnUEABYKAB0WIQQ=\n-----END PGP SIGNATURE-----\n"...))
	f.Add([]byte(`{"apiVersion":"nodewright.io/v1alpha1","prerequisites":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sm, err := bundle.ParseManifest(data)
		if err != nil && !errors.Is(err, bundle.ErrUnsigned) {
			if sm != nil {
				t.Fatalf("a manifest came back with error %v", err)
			}
			return
		}
		if err := sm.Manifest.Validate(); err != nil {
			t.Fatalf("parsed manifest does not validate: %v", err)
		}
		if _, err := sm.Verify(policy.Keyring(), manifestTime); err != nil && reason.CodeOf(err) == "" {
			t.Fatalf("verification failed without a reason code: %v", err)
		}
		again, err := sm.Manifest.Sign(key, manifestTime)
		if err != nil {
			t.Fatalf("sign a parsed manifest: %v", err)
		}
		sm2, err := bundle.ParseManifest(again)
		if err != nil {
			t.Fatalf("parse a re-signed manifest: %v\n%s", err, again)
		}
		if _, err := sm2.Verify(policy.Keyring(), manifestTime); err != nil {
			t.Fatalf("verify a re-signed manifest: %v", err)
		}
		if !sm2.Created.Equal(sm.Created) || sm2.Tip != sm.Tip || sm2.Sequence != sm.Sequence || sm2.Bundle != sm.Bundle {
			t.Fatalf("manifest changed through a round trip:\n%+v\n%+v", sm.Manifest, sm2.Manifest)
		}
	})
}

// FuzzReadHeader feeds the bundle header parser arbitrary files.
func FuzzReadHeader(f *testing.F) {
	a, b := strings.Repeat("a", 40), strings.Repeat("b", 40)
	f.Add([]byte("# v2 git bundle\n-" + a + " subject\n" + b + " refs/heads/main\n\nPACK"))
	f.Add([]byte("# v3 git bundle\n@object-format=sha1\n" + b + " refs/heads/main\n\n"))
	f.Add([]byte("# v2 git bundle\n" + b + " refs/heads/main\n" + a + " refs/heads/main\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := bundle.ReadHeader(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(h.Refs) == 0 || h.PackOffset > int64(len(data)) || (h.Version != 2 && h.Version != 3) {
			t.Fatalf("implausible header %+v from %d bytes", h, len(data))
		}
	})
}
