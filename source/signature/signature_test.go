package signature

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/trust"
)

const signedCommit = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n" +
	"author A <a@example.test> 1700000000 +0000\n" +
	"committer A <a@example.test> 1700000000 +0000\n" +
	"gpgsig -----BEGIN SSH SIGNATURE-----\n" +
	" U1NIU0lH\n" +
	" -----END SSH SIGNATURE-----\n" +
	"mergetag object 1234\n" +
	"\n" +
	"message\ngpgsig not a header here\n"

func TestSplit(t *testing.T) {
	payload, sig := Split([]byte(signedCommit))
	assert.Equal(t, "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"+
		"author A <a@example.test> 1700000000 +0000\n"+
		"committer A <a@example.test> 1700000000 +0000\n"+
		"mergetag object 1234\n"+
		"\n"+
		"message\ngpgsig not a header here\n", string(payload))
	assert.Equal(t, "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n", string(sig))

	unsigned := strings.Replace(signedCommit, "gpgsig -----BEGIN SSH SIGNATURE-----\n U1NIU0lH\n -----END SSH SIGNATURE-----\n", "", 1)
	payload, sig = Split([]byte(unsigned))
	assert.Nil(t, sig)
	assert.Equal(t, unsigned, string(payload))
}

func TestVerifyClassifiesGarbage(t *testing.T) {
	pol, err := trust.Parse("t.yaml", []byte(`apiVersion: nodewright.io/v1alpha1
kind: TrustPolicy
version: 1
principals:
  - name: alice
    keys: [{ssh: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAbNt5YlpDSGflh1aLcLeh2bK1fREzuU+X++ey1gSTLK alice"}]
roles:
  committers: {principals: [alice], threshold: 1}
  trust-admins: {principals: [alice], threshold: 1}
`))
	require.NoError(t, err)
	cases := []struct {
		name string
		sig  string
		want reason.Code
	}{
		{"none", "", reason.Unsigned},
		{"x509", "-----BEGIN SIGNED MESSAGE-----\nabc\n-----END SIGNED MESSAGE-----\n", reason.BadSignature},
		{"pgp armor broken", "-----BEGIN PGP SIGNATURE-----\n!!!\n", reason.BadSignature},
		{"pgp not a signature", "-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n", reason.BadSignature},
		{"ssh armor broken", "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n", reason.BadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Verify(pol.Keyring(), []byte("payload"), []byte(c.sig), time.Now())
			require.Error(t, err)
			assert.Equal(t, c.want, reason.CodeOf(err), "%v", err)
		})
	}
}

func FuzzSplit(f *testing.F) {
	f.Add([]byte(signedCommit))
	f.Add([]byte("tree x\n\n"))
	f.Add([]byte("gpgsig a\n b\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		payload, sig := Split(raw)
		if sig == nil && string(payload) != string(raw) {
			t.Fatal("an unsigned object is its own payload")
		}
		if len(payload) > len(raw) {
			t.Fatal("the payload never grows")
		}
	})
}

func FuzzVerify(f *testing.F) {
	pol, err := trust.Parse("t.yaml", []byte(`apiVersion: nodewright.io/v1alpha1
kind: TrustPolicy
version: 1
principals:
  - name: alice
    keys: [{ssh: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAbNt5YlpDSGflh1aLcLeh2bK1fREzuU+X++ey1gSTLK alice"}]
roles:
  committers: {principals: [alice], threshold: 1}
  trust-admins: {principals: [alice], threshold: 1}
`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("-----BEGIN PGP SIGNATURE-----\n\niHUEABYKAB0WIQQ=\n-----END PGP SIGNATURE-----\n"))
	f.Add([]byte("-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ==\n-----END SSH SIGNATURE-----\n"))
	f.Fuzz(func(t *testing.T, sig []byte) {
		_, _ = SignatureTime(sig)
		s, err := Verify(pol.Keyring(), []byte("payload"), sig, time.Now())
		if err == nil {
			t.Fatalf("random bytes verified as %+v", s)
		}
		if reason.CodeOf(err) == "" {
			t.Fatalf("error without a reason code: %v", err)
		}
	})
}
