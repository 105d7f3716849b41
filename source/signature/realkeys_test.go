package signature

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/hiddeco/sshsig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/trust"
	"github.com/nodewright/nodewright/test/harness"
)

// Tests here use keys made by the real gpg and ssh-keygen and signatures
// they make, so that what users run is what is verified.

var payload = []byte("tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@example.test> 1700000000 +0000\ncommitter A <a@example.test> 1700000000 +0000\n\nmessage\n")

// keyringOf is the keyring of a policy in which principal holds keys.
func keyringOf(t *testing.T, principal string, keys ...harness.Signer) *trust.Keyring {
	t.Helper()
	pol := harness.Policy{Version: 1, Principals: []harness.Principal{harness.Person(principal, keys...)},
		Roles: map[string]harness.Role{
			trust.RoleCommitters:  {Principals: []string{principal}, Threshold: 1},
			trust.RoleTrustAdmins: {Principals: []string{principal}, Threshold: 1},
		}}
	p, err := trust.Parse("trust.yaml", []byte(pol.YAML()))
	require.NoError(t, err)
	return p.Keyring()
}

// withLine is k listed in a policy as line, with the key's own line
// substituted for KEY.
func withLine(k *harness.SSHKey, line string) *harness.SSHKey {
	c := *k.SSHKey
	c.AuthorizedKey = strings.Replace(line, "KEY", k.AuthorizedKey, 1)
	return &harness.SSHKey{SSHKey: &c}
}

func requireCode(t *testing.T, want reason.Code, err error, contains ...string) {
	t.Helper()
	require.Error(t, err)
	assert.Equal(t, want, reason.CodeOf(err), "%v", err)
	for _, c := range contains {
		assert.Contains(t, err.Error(), c)
	}
}

func TestOpenPGPKeyTypesWithSigningSubkeys(t *testing.T) {
	for _, algo := range []string{"rsa3072", "nistp256", "nistp384", "brainpoolP256r1", "secp256k1"} {
		t.Run(algo, func(t *testing.T) {
			k := harness.NewGPGKey(t, "alice", harness.WithAlgorithm(algo), harness.WithSigningSubkey())
			require.NotEqual(t, k.Fingerprint, k.SigningFingerprint)
			sig := k.DetachSign(t, payload, time.Time{})
			signer, err := Check(keyringOf(t, "alice", k), payload, sig, Options{})
			require.NoError(t, err)
			assert.Equal(t, Signer{Principal: "alice", Key: k.Fingerprint, Format: OpenPGP}, signer)

			_, err = Check(keyringOf(t, "alice", k), append([]byte("x"), payload...), sig, Options{})
			requireCode(t, reason.BadSignature, err, "does not verify over the commit")
		})
	}
}

func TestSSHKeyTypes(t *testing.T) {
	for _, c := range []struct {
		typ  string
		bits int
	}{{"ed25519", 0}, {"rsa", 3072}, {"ecdsa", 256}, {"ecdsa", 384}, {"ecdsa", 521}} {
		t.Run(fmt.Sprint(c.typ, c.bits), func(t *testing.T) {
			k := harness.NewSSHKeyOfType(t, "bob", c.typ, c.bits)
			kr := keyringOf(t, "bob", k)
			signer, err := Check(kr, payload, k.Sign(t, payload, Namespace), Options{})
			require.NoError(t, err)
			assert.Equal(t, Signer{Principal: "bob", Key: k.Fingerprint(), Format: SSH}, signer)

			// The signing key of this package signs as ssh-keygen does.
			priv, err := os.ReadFile(k.PrivatePath)
			require.NoError(t, err)
			key, err := ParseKey(priv)
			require.NoError(t, err)
			sig, err := key.Sign(payload, Namespace, time.Now())
			require.NoError(t, err)
			_, err = Check(kr, payload, sig, Options{})
			require.NoError(t, err)
		})
	}
}

func TestOpenPGPWeakDigestsRefused(t *testing.T) {
	k := harness.NewGPGKey(t, "alice", harness.WithAlgorithm("rsa3072"), harness.WithSigningSubkey())
	kr := keyringOf(t, "alice", k)
	for algo, name := range map[string]string{"SHA1": "SHA-1", "MD5": "MD5", "RIPEMD160": "RIPEMD-160"} {
		t.Run(algo, func(t *testing.T) {
			sig := k.DetachSign(t, payload, time.Time{}, "--digest-algo", algo)
			_, err := Check(kr, payload, sig, Options{})
			requireCode(t, reason.BadSignature, err, "uses the weak digest "+name+"; re-sign with SHA-256 or stronger")
			if algo == "SHA1" {
				assert.Contains(t, err.Error(), k.SigningFingerprint, "the key is named when go-crypto reads the packet")
			}
			_, err = VerifyIn(kr, payload, sig, "nodewright-bundle", "bundle manifest", time.Now())
			requireCode(t, reason.BadSignature, err, "weak digest "+name)
		})
	}
	for _, algo := range []string{"SHA224", "SHA256", "SHA384", "SHA512"} {
		_, err := Check(kr, payload, k.DetachSign(t, payload, time.Time{}, "--digest-algo", algo), Options{})
		assert.NoError(t, err, algo)
	}
}

// rawSSHSig builds an SSH signature as PROTOCOL.sshsig lays it out, signed
// by s with signature algorithm algo over a digest named hashName (which
// need not be what ssh-keygen would use).
func rawSSHSig(t *testing.T, s ssh.Signer, algo, hashName string, digest []byte) []byte {
	t.Helper()
	signed := append([]byte("SSHSIG"), ssh.Marshal(struct {
		Namespace, Reserved, HashAlgorithm, Hash string
	}{Namespace, "", hashName, string(digest)})...)
	as, ok := s.(ssh.AlgorithmSigner)
	require.True(t, ok)
	sig, err := as.SignWithAlgorithm(rand.Reader, signed, algo)
	require.NoError(t, err)
	blob := ssh.Marshal(sshBlob{Magic: [6]byte{'S', 'S', 'H', 'S', 'I', 'G'}, Version: 1, PublicKey: string(s.PublicKey().Marshal()),
		Namespace: Namespace, HashAlgorithm: hashName, Signature: string(ssh.Marshal(sig))})
	return pem.EncodeToMemory(&pem.Block{Type: sshsig.PEMType, Bytes: blob})
}

func sshSignerOf(t *testing.T, k *harness.SSHKey) ssh.Signer {
	t.Helper()
	priv, err := os.ReadFile(k.PrivatePath)
	require.NoError(t, err)
	s, err := ssh.ParsePrivateKey(priv)
	require.NoError(t, err)
	return s
}

func TestSSHWeakDigestsRefused(t *testing.T) {
	rsaKey := harness.NewSSHKeyOfType(t, "bob", "rsa", 3072)
	edKey := harness.NewSSHKey(t, "carol")
	kr := keyringOf(t, "bob", rsaKey, edKey)
	sha512 := func() []byte { h := sshsig.HashSHA512.Hash(); h.Write(payload); return h.Sum(nil) }()

	// The layout is right: with rsa-sha2-512 the hand-made signature verifies.
	_, err := Check(kr, payload, rawSSHSig(t, sshSignerOf(t, rsaKey), ssh.KeyAlgoRSASHA512, "sha512", sha512), Options{})
	require.NoError(t, err)

	_, err = Check(kr, payload, rawSSHSig(t, sshSignerOf(t, rsaKey), ssh.KeyAlgoRSA, "sha512", sha512), Options{})
	requireCode(t, reason.BadSignature, err, "algorithm ssh-rsa, which uses the weak digest SHA-1", rsaKey.Fingerprint())

	sha1 := func() []byte { h := sshsig.HashSHA256.Hash(); h.Write(payload); return h.Sum(nil)[:20] }()
	_, err = Check(kr, payload, rawSSHSig(t, sshSignerOf(t, edKey), ssh.KeyAlgoED25519, "sha1", sha1), Options{})
	requireCode(t, reason.BadSignature, err, "uses the weak digest SHA-1", edKey.Fingerprint())
	_, err = Check(kr, payload, rawSSHSig(t, sshSignerOf(t, edKey), ssh.KeyAlgoED25519, "md5", sha1[:16]), Options{})
	requireCode(t, reason.BadSignature, err, `uses the hash algorithm "md5"; only sha256 and sha512 are accepted`)
}

func TestSSHNamespacesOption(t *testing.T) {
	k := harness.NewSSHKey(t, "edge")
	bundleSig := k.Sign(t, payload, "nodewright-bundle")
	commitSig := k.Sign(t, payload, Namespace)
	for _, line := range []string{
		`namespaces="nodewright-bundle" KEY`,
		`edge@example.test namespaces="nodewright-bundle" KEY`,
		`edge@example.test namespaces="nodewright-*,!git" KEY`,
	} {
		t.Run(line, func(t *testing.T) {
			kr := keyringOf(t, "edge", withLine(k, line))
			_, err := VerifyIn(kr, payload, bundleSig, "nodewright-bundle", "bundle manifest", time.Now())
			require.NoError(t, err)
			_, err = Check(kr, payload, commitSig, Options{})
			requireCode(t, reason.BadSignature, err, k.Fingerprint(), `of principal "edge" may sign only in namespaces`, `not in "git"`)
		})
	}
	// ssh-keygen reads the allowed_signers line the same way.
	line := `edge@example.test namespaces="nodewright-bundle" ` + k.AuthorizedKey
	ok, out := harness.SSHKeygenVerify(t, line, "edge@example.test", Namespace, payload, commitSig, time.Time{})
	assert.False(t, ok, out)
	ok, out = harness.SSHKeygenVerify(t, line, "edge@example.test", "nodewright-bundle", payload, bundleSig, time.Time{})
	assert.True(t, ok, out)

	// Without the option (the allowed_signers form, principals only) the
	// key signs in any namespace.
	kr := keyringOf(t, "edge", withLine(k, "edge@example.test KEY"))
	_, err := Check(kr, payload, commitSig, Options{})
	require.NoError(t, err)
}

func TestSSHValidityWindow(t *testing.T) {
	k := harness.NewSSHKey(t, "bob")
	sig := k.Sign(t, payload, Namespace)
	line := `bob@example.test valid-after="20250101Z",valid-before="202601011200Z" KEY`
	kr := keyringOf(t, "bob", withLine(k, line))
	after := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	before := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		at time.Time
		ok bool
	}{
		{after.Add(-time.Second), false},
		{after, true},
		{time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), true},
		{before, true},
		{before.Add(time.Second), false},
	}
	for _, c := range cases {
		signer, err := Check(kr, payload, sig, Options{At: c.at})
		if c.ok {
			assert.NoError(t, err, c.at)
		} else {
			requireCode(t, reason.KeyExpired, err, k.Fingerprint(), "signs only from 2025-01-01T00:00:00Z until 2026-01-01T12:00:00Z", "judged at "+c.at.Format(time.RFC3339))
			assert.Equal(t, "bob", signer.Principal, "the signer is named with the refusal")
		}
		ok, out := harness.SSHKeygenVerify(t, strings.Replace(line, "KEY", k.AuthorizedKey, 1), "bob@example.test", Namespace, payload, sig, c.at)
		assert.Equal(t, c.ok, ok, "ssh-keygen agrees at %s: %s", c.at, out)
	}

	open := keyringOf(t, "bob", withLine(k, `valid-after="20250101Z" KEY`))
	_, err := Check(open, payload, sig, Options{At: after.Add(-time.Hour)})
	requireCode(t, reason.KeyExpired, err, "signs only from 2025-01-01T00:00:00Z on")
	_, err = Verify(open, payload, sig, time.Now())
	require.NoError(t, err)
}

func TestCheckJudgesExpiredKeyAtSignatureTime(t *testing.T) {
	made := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
	for _, sub := range []bool{false, true} {
		t.Run(fmt.Sprint("subkey=", sub), func(t *testing.T) {
			opts := []harness.GPGOption{harness.WithFakedTime(made), harness.WithExpiry(24 * time.Hour)}
			if sub {
				opts = append(opts, harness.WithSigningSubkey())
			}
			k := harness.NewGPGKey(t, "dave", opts...)
			kr := keyringOf(t, "dave", k)
			sig := k.DetachSign(t, payload, made.Add(time.Hour))
			at, ok := SignatureTime(sig)
			require.True(t, ok)
			assert.Equal(t, made.Add(time.Hour).Unix(), at.Unix())

			signer, err := Check(kr, payload, sig, Options{At: at})
			require.NoError(t, err)
			assert.Equal(t, k.Fingerprint, signer.Key)

			signer, err = Check(kr, payload, sig, Options{At: time.Now()})
			requireCode(t, reason.KeyExpired, err, "valid from "+made.UTC().Format(time.RFC3339)+" until "+made.Add(24*time.Hour).UTC().Format(time.RFC3339))
			assert.Equal(t, "dave", signer.Principal)
			_, err = Verify(kr, payload, sig, time.Now())
			requireCode(t, reason.KeyExpired, err)

			// gpg signs nothing with an expired key; a signature made
			// after the key expired fails even at its own time.
			lateAt := made.Add(48 * time.Hour)
			late := signWithGoCrypto(t, k, lateAt, crypto.SHA256)
			_, err = Check(kr, payload, late, Options{At: lateAt})
			requireCode(t, reason.KeyExpired, err, "has expired at "+lateAt.UTC().Format(time.RFC3339))
		})
	}
}

// A key whose expiry was extended after it signed keeps its history: its
// new self-signatures are younger than the signatures judged by them.
func TestExtendedExpiryKeepsHistory(t *testing.T) {
	made := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
	k := harness.NewGPGKey(t, "erin", harness.WithFakedTime(made), harness.WithExpiry(24*time.Hour), harness.WithSigningSubkey())
	sig := k.DetachSign(t, payload, made.Add(time.Hour))
	k.SetExpiry(t, made.Add(2*time.Hour), 30*24*time.Hour)
	kr := keyringOf(t, "erin", k)
	at, _ := SignatureTime(sig)
	_, err := Check(kr, payload, sig, Options{At: at})
	require.NoError(t, err)
	_, err = Check(kr, payload, sig, Options{At: time.Now()})
	require.NoError(t, err)
}

func TestOpenPGPSignatureFromTheFuture(t *testing.T) {
	k := harness.NewGPGKey(t, "alice")
	kr := keyringOf(t, "alice", k)
	made := time.Now().Add(time.Hour).Truncate(time.Second)
	sig := k.DetachSign(t, payload, made)

	_, err := Check(kr, payload, sig, Options{At: made.Add(-time.Minute)})
	requireCode(t, reason.BadSignature, err, "claims to be made at "+made.UTC().Format(time.RFC3339)+", after "+made.Add(-time.Minute).UTC().Format(time.RFC3339))
	_, err = Verify(kr, payload, sig, time.Now())
	requireCode(t, reason.BadSignature, err, "claims to be made at")

	// Up to a second of clock difference is tolerated.
	_, err = Check(kr, payload, sig, Options{At: made.Add(-time.Second)})
	require.NoError(t, err)
	_, err = Check(kr, payload, sig, Options{At: made.Add(-500 * time.Millisecond)})
	require.NoError(t, err)
}

func TestOpenPGPSignatureBeforeItsKey(t *testing.T) {
	made := time.Now().Add(-time.Hour).Truncate(time.Second)
	k := harness.NewGPGKey(t, "alice", harness.WithFakedTime(made))
	// gpg signs nothing before its key exists.
	early := made.Add(-24 * time.Hour)
	sig := signWithGoCrypto(t, k, early, crypto.SHA256)
	_, err := Check(keyringOf(t, "alice", k), payload, sig, Options{At: early})
	requireCode(t, reason.BadSignature, err, "claims to be made at "+early.UTC().Format(time.RFC3339)+", before the key was created at "+made.UTC().Format(time.RFC3339))
}

func TestOpenPGPRevocations(t *testing.T) {
	made := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
	signedAt := made.Add(time.Hour)
	revokedAt := made.Add(2 * time.Hour)
	cases := []struct {
		why harness.RevocationReason
		// historyStays: signatures made before a soft revocation stay valid.
		historyStays bool
	}{
		{harness.RevokeNoReason, false},
		{harness.RevokeCompromised, false},
		{harness.RevokeSuperseded, true},
		{harness.RevokeRetired, true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint("reason=", c.why), func(t *testing.T) {
			k := harness.NewGPGKey(t, "mallory", harness.WithFakedTime(made), harness.WithSigningSubkey())
			sig := k.DetachSign(t, payload, signedAt)
			k.RevokeAt(t, revokedAt, c.why)
			kr := keyringOf(t, "mallory", k)

			_, err := Check(kr, payload, sig, Options{At: signedAt})
			if c.historyStays {
				require.NoError(t, err)
			} else {
				requireCode(t, reason.KeyRevoked, err, "voids signatures made before it too")
			}
			_, err = Check(kr, payload, sig, Options{At: time.Now()})
			requireCode(t, reason.KeyRevoked, err)
			_, err = Check(kr, payload, sig, Options{At: revokedAt})
			requireCode(t, reason.KeyRevoked, err)
		})
	}
}

// gpg signs with several keys into one detached signature; a commit is
// signed by one.
func TestOpenPGPTwoSignaturesRefused(t *testing.T) {
	k := harness.NewGPGKey(t, "alice")
	second := harness.NewGPGKey(t, "alice2")
	kr := keyringOf(t, "alice", k)
	k.AddSecretKeyOf(t, second)
	sig := k.DetachSign(t, payload, time.Time{}, "--local-user", second.Fingerprint+"!")
	_, err := Check(kr, payload, sig, Options{})
	requireCode(t, reason.BadSignature, err, "holds 2 signatures")
	_, ok := SignatureTime(sig)
	assert.False(t, ok)
}

func TestSignatureTime(t *testing.T) {
	made := time.Now().Add(-time.Hour).Truncate(time.Second)
	k := harness.NewGPGKey(t, "alice", harness.WithFakedTime(made))
	at, ok := SignatureTime(append([]byte("\n"), k.DetachSign(t, payload, made.Add(time.Minute))...))
	require.True(t, ok)
	assert.True(t, at.Equal(made.Add(time.Minute)), "%s", at)

	for _, sig := range [][]byte{nil, harness.NewSSHKey(t, "bob").Sign(t, payload, Namespace), []byte("-----BEGIN PGP SIGNATURE-----\n!!!\n")} {
		_, ok := SignatureTime(sig)
		assert.False(t, ok, "%q", sig)
	}
}

// signWithGoCrypto makes a detached signature of payload with gpg-made k
// claiming time at, which gpg itself would refuse to make (a key that is
// expired or not yet valid at at).
func signWithGoCrypto(t *testing.T, k *harness.GPGKey, at time.Time, h crypto.Hash) []byte {
	t.Helper()
	ents, err := openpgp.ReadArmoredKeyRing(strings.NewReader(k.SecretArmored(t)))
	require.NoError(t, err)
	var key *packet.PrivateKey
	for _, sub := range ents[0].Subkeys {
		if sub.PublicKey.KeyIdString() == k.SigningFingerprint[24:] {
			key = sub.PrivateKey
		}
	}
	if key == nil {
		key = ents[0].PrivateKey
	}
	sig := &packet.Signature{Version: key.Version, SigType: packet.SigTypeBinary, PubKeyAlgo: key.PubKeyAlgo, Hash: h,
		CreationTime: at, IssuerKeyId: &key.KeyId, IssuerFingerprint: key.Fingerprint}
	hash, err := sig.PrepareSign(nil)
	require.NoError(t, err)
	hash.Write(payload)
	require.NoError(t, sig.Sign(hash, key, nil))
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.SignatureType, nil)
	require.NoError(t, err)
	require.NoError(t, sig.Serialize(w))
	require.NoError(t, w.Close())
	return buf.Bytes()
}
