package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Signer is a key that git can sign commits with.
type Signer interface {
	// GitConfig returns the "-c key=value" arguments that make git sign
	// with this key.
	GitConfig() []string
	// Env returns extra environment variables for git (e.g. GNUPGHOME).
	Env() []string
	// PublicKey returns the public key as it appears in a TrustPolicy:
	// ASCII-armored OpenPGP, or an SSH authorized-key line.
	PublicKey() string
	// Format is "openpgp" or "ssh".
	Format() string
}

// GPGKey is an OpenPGP key made by the real gpg in its own GNUPGHOME.
type GPGKey struct {
	Name        string
	Email       string
	Home        string
	Fingerprint string
	// SigningFingerprint is the fingerprint git signs with: the signing
	// subkey's when the key has one, else the primary's.
	SigningFingerprint string
	Armored            string
	program            string
}

// GPGOption changes how NewGPGKey makes a key.
type GPGOption func(*gpgOptions)

type gpgOptions struct {
	expire    string
	fakedTime time.Time
	subkey    bool
}

// WithExpiry makes the key expire after d (rounded down to whole seconds).
func WithExpiry(d time.Duration) GPGOption {
	return func(o *gpgOptions) { o.expire = fmt.Sprintf("seconds=%d", int64(d/time.Second)) }
}

// WithFakedTime makes gpg believe the current time is t, both when making
// the key and when signing with it: a key made in the past with a short
// expiry is expired now while its signatures were made during its life.
func WithFakedTime(t time.Time) GPGOption {
	return func(o *gpgOptions) { o.fakedTime = t }
}

// WithSigningSubkey makes a certify-only primary key and a separate
// signing subkey, so that signatures are made by the subkey.
func WithSigningSubkey() GPGOption {
	return func(o *gpgOptions) { o.subkey = true }
}

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

// NewGPGKey makes an ed25519 OpenPGP key for name in a fresh GNUPGHOME. The
// gpg-agent it starts is stopped when the test ends.
func NewGPGKey(t TB, name string, opts ...GPGOption) *GPGKey {
	t.Helper()
	o := gpgOptions{expire: "never"}
	for _, fn := range opts {
		fn(&o)
	}
	home := shortTempDir(t, "nwgpg")
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatalf("chmod %s: %v", home, err)
	}
	conf := "pinentry-mode loopback\npassphrase \"\"\nbatch\nno-tty\n"
	if !o.fakedTime.IsZero() {
		conf += fmt.Sprintf("faked-system-time %d\n", o.fakedTime.Unix())
	}
	writeFile(t, filepath.Join(home, "gpg.conf"), conf, 0o600)
	writeFile(t, filepath.Join(home, "gpg-agent.conf"), "allow-loopback-pinentry\n", 0o600)
	k := &GPGKey{Name: name, Email: name + "@example.test", Home: home, program: "gpg"}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		_ = cmd.Run()
	})
	uid := fmt.Sprintf("%s <%s>", name, k.Email)
	if o.subkey {
		k.gpg(t, "--quick-gen-key", uid, "ed25519", "cert", o.expire)
		k.Fingerprint = k.primaryFingerprint(t)
		k.gpg(t, "--quick-add-key", k.Fingerprint, "ed25519", "sign", o.expire)
		k.SigningFingerprint = k.lastSubkeyFingerprint(t)
	} else {
		k.gpg(t, "--quick-gen-key", uid, "ed25519", "sign", o.expire)
		k.Fingerprint = k.primaryFingerprint(t)
		k.SigningFingerprint = k.Fingerprint
	}
	k.Armored = k.gpg(t, "--armor", "--export", k.Fingerprint)
	return k
}

func (k *GPGKey) gpg(t TB, args ...string) string {
	t.Helper()
	cmd := exec.Command("gpg", append([]string{"--homedir", k.Home}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

func (k *GPGKey) colons(t TB) []string {
	return strings.Split(k.gpg(t, "--with-colons", "--list-keys", k.Email), "\n")
}

func (k *GPGKey) primaryFingerprint(t TB) string {
	lines := k.colons(t)
	for i, l := range lines {
		if strings.HasPrefix(l, "pub:") && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "fpr:") {
			return strings.Split(lines[i+1], ":")[9]
		}
	}
	t.Fatalf("no primary key fingerprint for %s", k.Email)
	return ""
}

func (k *GPGKey) lastSubkeyFingerprint(t TB) string {
	fpr := ""
	lines := k.colons(t)
	for i, l := range lines {
		if strings.HasPrefix(l, "sub:") && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "fpr:") {
			fpr = strings.Split(lines[i+1], ":")[9]
		}
	}
	if fpr == "" {
		t.Fatalf("no subkey fingerprint for %s", k.Email)
	}
	return fpr
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
	k.Armored = k.gpg(t, "--armor", "--export", k.Fingerprint)
}

// GitConfig implements Signer.
func (k *GPGKey) GitConfig() []string {
	return []string{"-c", "gpg.format=openpgp", "-c", "user.signingkey=" + k.SigningFingerprint + "!", "-c", "gpg.program=" + k.program}
}

// Env implements Signer.
func (k *GPGKey) Env() []string { return []string{"GNUPGHOME=" + k.Home} }

// PublicKey implements Signer.
func (k *GPGKey) PublicKey() string { return k.Armored }

// Format implements Signer.
func (k *GPGKey) Format() string { return "openpgp" }

// SSHKey is an ed25519 SSH key pair made by the real ssh-keygen.
type SSHKey struct {
	Name          string
	PrivatePath   string
	AuthorizedKey string
}

// NewSSHKey makes an SSH key pair for name without a passphrase.
func NewSSHKey(t TB, name string) *SSHKey {
	t.Helper()
	dir := shortTempDir(t, "nwssh")
	path := filepath.Join(dir, "id_ed25519")
	cmd := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name+"@example.test", "-f", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatalf("read ssh public key: %v", err)
	}
	return &SSHKey{Name: name, PrivatePath: path, AuthorizedKey: strings.TrimSpace(string(pub))}
}

// Fingerprint returns the key's SHA256 fingerprint as ssh-keygen -l prints it.
func (k *SSHKey) Fingerprint() string {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.AuthorizedKey))
	if err != nil {
		return "(unparseable)"
	}
	return ssh.FingerprintSHA256(pub)
}

// GitConfig implements Signer.
func (k *SSHKey) GitConfig() []string {
	return []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + k.PrivatePath}
}

// Env implements Signer.
func (k *SSHKey) Env() []string { return nil }

// PublicKey implements Signer.
func (k *SSHKey) PublicKey() string { return k.AuthorizedKey }

// Format implements Signer.
func (k *SSHKey) Format() string { return "ssh" }

func writeFile(t TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}
