package trust

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sshKey and sshKey2 are public keys only; they sign nothing in these tests.
const (
	sshKey  = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAbNt5YlpDSGflh1aLcLeh2bK1fREzuU+X++ey1gSTLK alice@laptop"
	sshKey2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFc41i/Ek2Gv1jf3daPCaU6/oaaj2b1hs2xPIr/HhV1f bob@laptop"
)

func doc(body string) string {
	return "apiVersion: nodewright.io/v1alpha1\nkind: TrustPolicy\n" + body
}

var good = doc(`version: 3
history: first-parent
freshness: {maxAge: 72h}
principals:
  - name: alice
    keys:
      - ssh: "` + sshKey + `"
  - name: bob
    keys:
      - ssh: "` + sshKey2 + `"
        revoked: true
roles:
  committers:   {principals: [alice], threshold: 1}
  approvers:    {principals: [alice, bob], threshold: 2}
  trust-admins: {principals: [alice, bob], threshold: 2}
operations:
  BondModeFlipPlan: {role: approvers, threshold: 2}
`)

func TestParseGood(t *testing.T) {
	p, err := Parse("trust.yaml", []byte(good))
	require.NoError(t, err)
	assert.Equal(t, 3, p.Version)
	assert.Equal(t, HistoryFirstParent, p.HistoryMode())
	assert.Equal(t, "72h0m0s", p.MaxAge().String())
	assert.True(t, p.HasRole("bob", RoleApprovers))
	assert.False(t, p.HasRole("bob", RoleCommitters))
	assert.Len(t, p.Digest(), 64)

	reformatted := strings.Replace(good, "threshold: 1}", "threshold:   1 }", 1)
	q, err := Parse("other.yaml", []byte(reformatted))
	require.NoError(t, err)
	assert.Equal(t, p.Digest(), q.Digest(), "formatting does not change the digest")
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want string // substring of the error, with file:line
	}{
		{"unknown field", strings.Replace(good, "history:", "histroy:", 1), "trust.yaml:4: field histroy not found"},
		{"duplicate key", strings.Replace(good, "version: 3\n", "version: 3\nversion: 4\n", 1), `trust.yaml:4: mapping key "version" already defined at line 3`},
		{"wrong type", strings.Replace(good, "version: 3", "version: three", 1), "trust.yaml:3: cannot unmarshal !!str `three`"},
		{"two documents", good + "---\n" + good, "more than one YAML document"},
		{"empty", "", "trust.yaml: document is empty"},
		{"wrong kind", strings.Replace(good, "kind: TrustPolicy", "kind: Policy", 1), `trust.yaml:2: kind: "Policy" is not "TrustPolicy"`},
		{"version zero", strings.Replace(good, "version: 3", "version: 0", 1), "trust.yaml:3: version: must be a whole number of at least 1"},
		{"bad history", strings.Replace(good, "first-parent", "linear", 1), `trust.yaml:4: history: "linear" is not a history mode`},
		{"bad maxAge", strings.Replace(good, "72h", "3 days", 1), `trust.yaml:5: freshness.maxAge: "3 days" is not a duration`},
		{"duplicate principal", strings.Replace(good, "name: bob", "name: alice", 1), `trust.yaml:10: principals[1].name: principal "alice" is already defined at principals[0]`},
		{"bad principal name", strings.Replace(good, "name: bob", "name: Bob Smith", 1), `principals[1].name: "Bob Smith" is not a principal name`},
		{"ssh key does not parse", strings.Replace(good, sshKey2, "ssh-ed25519 AAAAnotbase64!!", 1), "trust.yaml:12: principals[1].keys[0].ssh: not an SSH public key line"},
		{"openpgp key does not parse", strings.Replace(good, `- ssh: "`+sshKey2+`"`, "- openpgp: |\n          -----BEGIN PGP PUBLIC KEY BLOCK-----\n          nonsense\n", 1), "principals[1].keys[0].openpgp: not an ASCII-armored OpenPGP public key"},
		{"key held twice", strings.Replace(good, sshKey2, sshKey, 1), `principals[1].keys[0].ssh: key SHA256:`},
		{"key with both formats", strings.Replace(good, "revoked: true", "openpgp: x", 1), "principals[1].keys[0]: a key is either openpgp or ssh, not both"},
		{"no keys", strings.Replace(good, "    keys:\n      - ssh: \""+sshKey2+"\"\n        revoked: true\n", "    keys: []\n", 1), `principals[1].keys: principal "bob" has no keys`},
		{"role names unknown principal", strings.Replace(good, "committers:   {principals: [alice]", "committers:   {principals: [alice, zed]", 1), `trust.yaml:15: roles.committers.principals[1]: "zed" is not a principal of this policy`},
		{"threshold above role size", strings.Replace(good, "trust-admins: {principals: [alice, bob], threshold: 2}", "trust-admins: {principals: [alice, bob], threshold: 3}", 1), `trust.yaml:17: roles.trust-admins.threshold: 3 is more than the 2 principals of role "trust-admins"`},
		{"threshold zero", strings.Replace(good, "approvers:    {principals: [alice, bob], threshold: 2}", "approvers:    {principals: [alice, bob], threshold: 0}", 1), "roles.approvers.threshold: must be at least 1"},
		{"committers threshold two", strings.Replace(good, "committers:   {principals: [alice], threshold: 1}", "committers:   {principals: [alice, bob], threshold: 2}", 1), "roles.committers.threshold: must be 1"},
		{"missing trust-admins", strings.Replace(good, "  trust-admins: {principals: [alice, bob], threshold: 2}\n", "", 1), `roles: role "trust-admins" is required`},
		{"operation unknown kind", strings.Replace(good, "BondModeFlipPlan:", "BondFlip:", 1), `operations.BondFlip: "BondFlip" is not an operation kind`},
		{"operation unknown role", strings.Replace(good, "{role: approvers, threshold: 2}", "{role: reviewers, threshold: 2}", 1), `operations.BondModeFlipPlan.role: role "reviewers" is not defined`},
		{"operation threshold too high", strings.Replace(good, "{role: approvers, threshold: 2}", "{role: approvers, threshold: 5}", 1), "operations.BondModeFlipPlan.threshold: 5 is more than the 2 principals"},
		{"since not a commit", strings.Replace(good, "version: 3\n", "version: 3\nsince: main\n", 1), `since: "main" is not a full 40-hex commit id`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("trust.yaml", []byte(c.doc))
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			var es Errors
			require.ErrorAs(t, err, &es)
			for _, e := range es {
				assert.Equal(t, "trust.yaml", e.File, "every error names the file")
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	bad := strings.Replace(strings.Replace(good, "version: 3", "version: 0", 1), "threshold: 2}\noperations", "threshold: 9}\noperations", 1)
	_, err := Parse("trust.yaml", []byte(bad))
	var es Errors
	require.ErrorAs(t, err, &es)
	assert.Len(t, es, 2, "%v", err)
}

func TestParseRefusesPrivateKeyMaterial(t *testing.T) {
	e, err := openpgp.NewEntity("carol", "", "carol@example.test", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	require.NoError(t, err)
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, e.SerializePrivate(w, nil))
	require.NoError(t, w.Close())
	indented := "          " + strings.ReplaceAll(strings.TrimSpace(buf.String()), "\n", "\n          ")
	bad := strings.Replace(good, `- ssh: "`+sshKey2+`"`, "- openpgp: |\n"+indented, 1)
	_, err = Parse("trust.yaml", []byte(bad))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "principals[1].keys[0].openpgp: contains private key material")
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(doc("version: 1\nprincipals: []\nroles: {}\n")))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("version: [\n"))
	for _, line := range sshLineSeeds {
		f.Add([]byte(policyWith(line)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if p.Digest() == "" || p.Keyring() == nil {
			t.Fatal("a parsed policy has a digest and a keyring")
		}
	})
}
