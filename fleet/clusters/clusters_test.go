package clusters

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/nodewright/nodewright/test/harness"
)

// Public keys only; they sign nothing in these tests.
const (
	sshKey1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAbNt5YlpDSGflh1aLcLeh2bK1fREzuU+X++ey1gSTLK edge-1"
	sshKey2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFc41i/Ek2Gv1jf3daPCaU6/oaaj2b1hs2xPIr/HhV1f edge-2"
)

func doc(body string) string {
	return "apiVersion: nodewright.io/v1alpha1\nkind: ClusterKeys\n" + body
}

func TestParseWithRealKeys(t *testing.T) {
	sshKey := harness.NewSSHKey(t, "edge-1")
	gpgKey := harness.NewGPGKey(t, "edge-2")
	var b strings.Builder
	b.WriteString(doc("clusters:\n"))
	fmt.Fprintf(&b, "  - name: edge-1\n    site: north\n    keys:\n      - ssh: %q\n", sshKey.AuthorizedKey)
	b.WriteString("  - name: edge-2\n    site: south\n    keys:\n      - openpgp: |\n")
	for _, line := range strings.Split(strings.TrimRight(gpgKey.Armored, "\n"), "\n") {
		b.WriteString("          " + line + "\n")
	}
	k, err := Parse("clusters.yaml", []byte(b.String()))
	require.NoError(t, err)
	assert.Equal(t, []string{"edge-1", "edge-2"}, k.Names())

	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(sshKey.AuthorizedKey))
	require.NoError(t, err)
	h, ok := k.Keyring().SSHHolder(pub)
	require.True(t, ok)
	assert.Equal(t, "edge-1", h.Principal)

	h, ok = k.Keyring().HolderByID(gpgKey.Fingerprint)
	require.True(t, ok)
	assert.Equal(t, "edge-2", h.Principal)

	c1, ok := k.Cluster("edge-1")
	require.True(t, ok)
	assert.Equal(t, "north", c1.Site)
	_, ok = c1.Keyring().SSHHolder(pub)
	assert.True(t, ok, "a cluster's own keyring holds its key")
	_, ok = c1.Keyring().HolderByID(gpgKey.Fingerprint)
	assert.False(t, ok, "a cluster's own keyring holds no other cluster's key")
	c2, _ := k.Cluster("edge-2")
	assert.Len(t, c2.Keyring().OpenPGP(), 1)
	_, ok = k.Cluster("edge-3")
	assert.False(t, ok)
}

func TestParseEmptyFleet(t *testing.T) {
	k, err := Parse("c.yaml", []byte(doc("clusters: []\n")))
	require.NoError(t, err)
	assert.Empty(t, k.Names())
	assert.NotNil(t, k.Keyring())
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []string // "line: field: message" fragments, in order
	}{
		{"unknown top-level field", doc("clusters: []\nclustres: []\n"), []string{"c.yaml:4: field clustres not found"}},
		{"unknown cluster field", doc("clusters:\n  - name: edge-1\n    site: s\n    keyz: []\n"), []string{"c.yaml:6: field keyz not found"}},
		{"unknown key field", doc("clusters:\n  - name: edge-1\n    site: s\n    keys:\n      - ssh: \"" + sshKey1 + "\"\n        revoked: true\n"), []string{"c.yaml:8: field revoked not found"}},
		{"duplicate yaml key", doc("clusters:\n  - name: edge-1\n    name: edge-2\n"), []string{`c.yaml:5: mapping key "name" already defined at line 4`}},
		{"duplicate cluster", doc("clusters:\n  - name: edge-1\n    site: s\n    keys: [{ssh: \"" + sshKey1 + "\"}]\n  - name: edge-1\n    site: s\n    keys: [{ssh: \"" + sshKey2 + "\"}]\n"),
			[]string{`c.yaml:7: clusters[1].name: cluster "edge-1" is already listed at clusters[0]`}},
		{"key of two clusters", doc("clusters:\n  - name: edge-1\n    site: s\n    keys: [{ssh: \"" + sshKey1 + "\"}]\n  - name: edge-2\n    site: s\n    keys: [{ssh: \"" + sshKey1 + "\"}]\n"),
			[]string{`c.yaml:9: clusters[1].keys[0].ssh: key SHA256:`, `is already held by cluster "edge-1"`}},
		{"bad ssh key", doc("clusters:\n  - name: edge-1\n    site: s\n    keys:\n      - ssh: ssh-ed25519 AAAA\n"), []string{"c.yaml:7: clusters[0].keys[0].ssh: not an SSH public key line"}},
		{"bad openpgp key", doc("clusters:\n  - name: edge-1\n    site: s\n    keys:\n      - openpgp: nope\n"), []string{"c.yaml:7: clusters[0].keys[0].openpgp: not an ASCII-armored OpenPGP public key"}},
		{"both kinds", doc("clusters:\n  - name: edge-1\n    site: s\n    keys:\n      - {ssh: x, openpgp: y}\n"), []string{"c.yaml:7: clusters[0].keys[0]: a key is either openpgp or ssh, not both"}},
		{"no keys", doc("clusters:\n  - name: edge-1\n    site: s\n"), []string{`c.yaml:4: clusters[0].keys: cluster "edge-1" has no keys`}},
		{"bad names", doc("clusters:\n  - name: Edge_1\n    site: ''\n    keys: [{ssh: \"" + sshKey1 + "\"}]\n"),
			[]string{`c.yaml:4: clusters[0].name: "Edge_1" is not a cluster name`, "c.yaml:5: clusters[0].site: site is required"}},
		{"path traversal name", doc("clusters:\n  - name: ../x\n    site: s\n    keys: [{ssh: \"" + sshKey1 + "\"}]\n"), []string{`clusters[0].name: "../x" is not a cluster name`}},
		{"wrong header", "apiVersion: v1\nkind: TrustPolicy\nclusters: []\n", []string{`c.yaml:1: apiVersion: "v1" is not supported`, `c.yaml:2: kind: "TrustPolicy" is not "ClusterKeys"`}},
		{"missing clusters", doc(""), []string{"c.yaml:1: clusters: clusters is required"}},
		{"empty", "", []string{"c.yaml: document is empty"}},
		{"two documents", doc("clusters: []\n---\nclusters: []\n"), []string{"c.yaml:4: more than one YAML document"}},
		{"alias", doc("clusters:\n  - &a {name: edge-1, site: s, keys: [{ssh: \"" + sshKey1 + "\"}]}\n  - *a\n"), []string{"c.yaml:4: YAML anchors and aliases are not allowed"}},
		{"wrong type", doc("clusters: {name: x}\n"), []string{"c.yaml:3: cannot unmarshal !!map into []clusters.Cluster"}},
		{"syntax", doc("clusters: [\n"), []string{"c.yaml:"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(c.in))
			require.Error(t, err)
			var errs Errors
			require.ErrorAs(t, err, &errs)
			msg := err.Error()
			for _, w := range c.want {
				assert.Contains(t, msg, w)
			}
			for _, e := range errs {
				assert.Equal(t, "c.yaml", e.File)
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	_, err := Parse("c.yaml", make([]byte, MaxSize+1))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "more than the")
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(doc("clusters:\n  - name: edge-1\n    site: s\n    keys: [{ssh: \"" + sshKey1 + "\"}]\n")))
	f.Add([]byte(doc("clusters: []\n")))
	f.Add([]byte(doc("clusters:\n  - name: edge-1\n    site: s\n    keys: [{openpgp: \"-----BEGIN PGP PUBLIC KEY BLOCK-----\\n\\nxjME\\n-----END PGP PUBLIC KEY BLOCK-----\"}]\n")))
	f.Add([]byte("{apiVersion: 1, kind: [], clusters: {}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := Parse("f.yaml", data)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not a located Errors: %v", err)
			}
			for _, e := range errs {
				if e.File != "f.yaml" {
					t.Fatalf("error without its file: %v", e)
				}
			}
			return
		}
		seen := map[string]bool{}
		for _, c := range k.Clusters {
			if seen[c.Name] || !namePattern.MatchString(c.Name) || len(c.Keys) == 0 {
				t.Fatalf("accepted an invalid cluster %+v", c)
			}
			seen[c.Name] = true
			if c.Keyring() == nil {
				t.Fatalf("cluster %q without a keyring", c.Name)
			}
			if got, ok := k.Cluster(c.Name); !ok || got.Name != c.Name {
				t.Fatalf("cluster %q not found by name", c.Name)
			}
		}
		if k.Keyring() == nil {
			t.Fatal("accepted document without a keyring")
		}
	})
}
