package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nodewright/nodewright/internal/sandbox"
)

// Signer is a key that git can sign commits with.
type Signer = sandbox.Signer

// GPGKey is an OpenPGP key made by the real gpg in its own GNUPGHOME.
type GPGKey struct{ *sandbox.GPGKey }

// GPGOption changes how NewGPGKey makes a key.
type GPGOption = sandbox.GPGOption

// WithExpiry makes the key expire after d (rounded down to whole seconds).
func WithExpiry(d time.Duration) GPGOption { return sandbox.WithExpiry(d) }

// WithFakedTime makes gpg believe the current time is t, both when making
// the key and when signing with it: a key made in the past with a short
// expiry is expired now while its signatures were made during its life.
func WithFakedTime(t time.Time) GPGOption { return sandbox.WithFakedTime(t) }

// WithAlgorithm makes the key (and its signing subkey, with
// WithSigningSubkey) of the gpg algorithm algo instead of ed25519.
func WithAlgorithm(algo string) GPGOption { return sandbox.WithAlgorithm(algo) }

// WithSigningSubkey makes a certify-only primary key and a separate
// signing subkey, so that signatures are made by the subkey.
func WithSigningSubkey() GPGOption { return sandbox.WithSigningSubkey() }

// shortTempDir makes a temporary directory with a short path: gpg-agent's
// socket path must fit in a Unix socket address.
func shortTempDir(t TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// NewGPGKey makes an OpenPGP key for name in a fresh GNUPGHOME, ed25519
// unless WithAlgorithm says otherwise. The gpg-agent it starts is stopped
// when the test ends.
func NewGPGKey(t TB, name string, opts ...GPGOption) *GPGKey {
	t.Helper()
	k := must(sandbox.NewGPGKey(shortTempDir(t, "nwgpg"), name, opts...))(t)
	t.Cleanup(func() { _ = k.Close() })
	return &GPGKey{k}
}

func (k *GPGKey) gpg(t TB, args ...string) string {
	t.Helper()
	return string(k.gpgIn(t, nil, args...))
}

// gpgIn runs gpg on this key's home with stdin as its standard input.
func (k *GPGKey) gpgIn(t TB, stdin []byte, args ...string) []byte {
	t.Helper()
	return must(k.GPG(stdin, args...))(t)
}

// refresh re-exports the public key into Armored.
func (k *GPGKey) refresh(t TB) {
	t.Helper()
	check(t, k.RefreshArmored())
}

// fakedTime returns the gpg arguments that make it believe the time is at,
// or none for the zero time (gpg then keeps the time WithFakedTime set).
// The clock is frozen there ("!"): a running one could pass a second
// boundary during the call and date a signature one second late.
func fakedTime(at time.Time) []string {
	if at.IsZero() {
		return nil
	}
	return []string{"--faked-system-time", fmt.Sprint(at.Unix()) + "!"}
}

// DetachSign makes an armored detached signature of payload with the key
// (its signing subkey when it has one), as git commit -S has gpg do. A
// non-zero at is the time gpg signs at. extra are more gpg arguments, such
// as "--digest-algo", "SHA1".
func (k *GPGKey) DetachSign(t TB, payload []byte, at time.Time, extra ...string) []byte {
	t.Helper()
	args := append(fakedTime(at), "--armor", "--detach-sign", "--local-user", k.SigningFingerprint+"!")
	return k.gpgIn(t, payload, append(args, extra...)...)
}

// SetExpiry makes the key and all its subkeys expire d after at (gpg's
// --quick-set-expire run at time at; a zero at is gpg's configured time),
// adding new self-signatures, and refreshes Armored.
func (k *GPGKey) SetExpiry(t TB, at time.Time, d time.Duration) {
	t.Helper()
	expire := fmt.Sprintf("seconds=%d", int64(d/time.Second))
	k.gpg(t, append(fakedTime(at), "--quick-set-expire", k.Fingerprint, expire)...)
	if k.SigningFingerprint != k.Fingerprint {
		k.gpg(t, append(fakedTime(at), "--quick-set-expire", k.Fingerprint, expire, "*")...)
	}
	k.refresh(t)
}

// SecretArmored returns the key's secret key, ASCII-armored and without a
// passphrase, as gpg --armor --export-secret-keys prints it.
func (k *GPGKey) SecretArmored(t TB) string {
	t.Helper()
	return k.gpg(t, "--armor", "--export-secret-keys", k.Fingerprint)
}

// AddSecretKeyOf imports other's secret key into k's GNUPGHOME, so that
// gpg there can sign with both (DetachSign with "--local-user").
func (k *GPGKey) AddSecretKeyOf(t TB, other *GPGKey) {
	t.Helper()
	k.gpgIn(t, []byte(other.SecretArmored(t)), "--import")
}

// RevocationReason is the reason of an OpenPGP key revocation, numbered
// as gpg's --gen-revoke menu numbers them.
type RevocationReason int

// The reasons gpg's --gen-revoke offers.
const (
	// RevokeNoReason is "No reason specified" (the reason of the
	// certificate gpg stores when it makes a key).
	RevokeNoReason RevocationReason = 0
	// RevokeCompromised is "Key has been compromised".
	RevokeCompromised RevocationReason = 1
	// RevokeSuperseded is "Key is superseded".
	RevokeSuperseded RevocationReason = 2
	// RevokeRetired is "Key is no longer used".
	RevokeRetired RevocationReason = 3
)

// RevokeAt revokes the primary key for why with gpg --gen-revoke run at
// time at (zero: gpg's configured time), imports the revocation and
// refreshes Armored.
func (k *GPGKey) RevokeAt(t TB, at time.Time, why RevocationReason) {
	t.Helper()
	// Answers to: create a revocation certificate? reason? description
	// (ended by an empty line)? is this okay?
	answers := fmt.Sprintf("y\n%d\nrevoked by a test\n\ny\n", int(why))
	args := append(fakedTime(at), "--no-batch", "--command-fd", "0", "--armor", "--gen-revoke", k.Fingerprint)
	cert := k.gpgIn(t, []byte(answers), args...)
	if !bytes.Contains(cert, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		t.Fatalf("gpg --gen-revoke made no certificate:\n%s", cert)
	}
	k.gpgIn(t, cert, "--import")
	k.refresh(t)
}

// Revoke adds a revocation certificate to the key (as gpg's
// --gen-revoke then --import would) and refreshes Armored.
func (k *GPGKey) Revoke(t TB) {
	t.Helper()
	rev := filepath.Join(k.Home, "openpgp-revocs.d", k.Fingerprint+".rev")
	data, err := os.ReadFile(rev)
	if err != nil {
		t.Fatalf("read revocation certificate: %v", err)
	}
	// gpg writes the certificate with a leading colon to stop accidental import.
	fixed := strings.Replace(string(data), ":-----BEGIN PGP PUBLIC KEY BLOCK-----", "-----BEGIN PGP PUBLIC KEY BLOCK-----", 1)
	writeFile(t, rev+".asc", fixed, 0o600)
	k.gpg(t, "--import", rev+".asc")
	k.refresh(t)
}

// SSHKey is an SSH key pair made by the real ssh-keygen.
type SSHKey struct{ *sandbox.SSHKey }

// NewSSHKey makes an ed25519 SSH key pair for name without a passphrase.
func NewSSHKey(t TB, name string) *SSHKey {
	t.Helper()
	return NewSSHKeyOfType(t, name, "ed25519", 0)
}

// NewSSHKeyOfType makes an SSH key pair for name without a passphrase of
// ssh-keygen's type keyType (ed25519, rsa, ecdsa) and size bits (0:
// ssh-keygen's default).
func NewSSHKeyOfType(t TB, name, keyType string, bits int) *SSHKey {
	t.Helper()
	return &SSHKey{must(sandbox.NewSSHKeyOfType(shortTempDir(t, "nwssh"), name, keyType, bits))(t)}
}

// Sign makes an armored SSH signature of payload in namespace with
// ssh-keygen -Y sign, as git does with gpg.format=ssh.
func (k *SSHKey) Sign(t TB, payload []byte, namespace string) []byte {
	t.Helper()
	cmd := exec.Command("ssh-keygen", "-q", "-Y", "sign", "-f", k.PrivatePath, "-n", namespace)
	cmd.Stdin = bytes.NewReader(payload)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, stderr.String())
	}
	return out
}

// SSHKeygenVerify asks the real ssh-keygen -Y verify whether sig is a
// good signature of payload in namespace by principal according to the
// allowed_signers line allowed, judged at time at (its -Overify-time; zero:
// now). It returns the verdict and ssh-keygen's output.
func SSHKeygenVerify(t TB, allowed, principal, namespace string, payload, sig []byte, at time.Time) (bool, string) {
	t.Helper()
	dir := t.TempDir()
	signers := filepath.Join(dir, "allowed_signers")
	sigPath := filepath.Join(dir, "payload.sig")
	writeFile(t, signers, allowed+"\n", 0o600)
	writeFile(t, sigPath, string(sig), 0o600)
	args := []string{"-Y", "verify", "-f", signers, "-I", principal, "-n", namespace, "-s", sigPath}
	if !at.IsZero() {
		args = append(args, "-Overify-time="+at.UTC().Format("20060102150405")+"Z")
	}
	cmd := exec.Command("ssh-keygen", args...)
	cmd.Stdin = bytes.NewReader(payload)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("ssh-keygen -Y verify: %v", err)
	}
	return err == nil, string(out)
}

func writeFile(t TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}
