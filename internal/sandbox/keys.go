package sandbox

import (
	"bytes"
	"errors"
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
}

// GPGOption changes how NewGPGKey makes a key.
type GPGOption func(*gpgOptions)

type gpgOptions struct {
	expire    string
	fakedTime time.Time
	subkey    bool
	algo      string
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

// WithAlgorithm makes the key (and its signing subkey, with
// WithSigningSubkey) of the gpg algorithm algo instead of ed25519: for
// example rsa3072, nistp256, nistp384, nistp521, brainpoolP256r1,
// brainpoolP384r1, brainpoolP512r1 or secp256k1 (ECDSA for the curves).
func WithAlgorithm(algo string) GPGOption {
	return func(o *gpgOptions) { o.algo = algo }
}

// WithSigningSubkey makes a certify-only primary key and a separate
// signing subkey, so that signatures are made by the subkey.
func WithSigningSubkey() GPGOption {
	return func(o *gpgOptions) { o.subkey = true }
}

// signingAlgo is the gpg algorithm string of a signing subkey: gpg makes
// an ECDH subkey of a bare NIST, Brainpool or secp256k1 curve name.
func signingAlgo(algo string) string {
	for _, curve := range []string{"nistp", "brainpool", "secp"} {
		if strings.HasPrefix(algo, curve) {
			return algo + "/ecdsa"
		}
	}
	return algo
}

// NewGPGKey makes an OpenPGP key for name, ed25519 unless WithAlgorithm
// says otherwise, with home as its GNUPGHOME (created, mode 0700; keep its
// path short, as gpg-agent's socket path must fit in a Unix socket
// address). Close stops the gpg-agent that gpg starts; it is stopped too
// when making the key fails.
func NewGPGKey(home, name string, opts ...GPGOption) (*GPGKey, error) {
	o := gpgOptions{expire: "never", algo: "ed25519"}
	for _, fn := range opts {
		fn(&o)
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(home, 0o700); err != nil {
		return nil, err
	}
	conf := "pinentry-mode loopback\npassphrase \"\"\nbatch\nno-tty\n"
	if !o.fakedTime.IsZero() {
		// Frozen ("!"): a clock running from t in each gpg run would
		// date a key made in a run that crossed a second later than a
		// subkey added by the next run, which gpg refuses (Time conflict).
		conf += fmt.Sprintf("faked-system-time %d!\n", o.fakedTime.Unix())
	}
	if err := writeFile(filepath.Join(home, "gpg.conf"), conf, 0o600); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(home, "gpg-agent.conf"), "allow-loopback-pinentry\n", 0o600); err != nil {
		return nil, err
	}
	k := &GPGKey{Name: name, Email: name + "@example.test", Home: home}
	if err := k.generate(o); err != nil {
		return nil, errors.Join(fmt.Errorf("gpg key %s: %w", name, err), k.Close())
	}
	return k, nil
}

func (k *GPGKey) generate(o gpgOptions) (err error) {
	uid := fmt.Sprintf("%s <%s>", k.Name, k.Email)
	if o.subkey {
		if _, err = k.GPG(nil, "--quick-gen-key", uid, o.algo, "cert", o.expire); err != nil {
			return err
		}
		if k.Fingerprint, err = k.fingerprint("pub:", false); err != nil {
			return err
		}
		if _, err = k.GPG(nil, "--quick-add-key", k.Fingerprint, signingAlgo(o.algo), "sign", o.expire); err != nil {
			return err
		}
		if k.SigningFingerprint, err = k.fingerprint("sub:", true); err != nil {
			return err
		}
	} else {
		if _, err = k.GPG(nil, "--quick-gen-key", uid, o.algo, "sign", o.expire); err != nil {
			return err
		}
		if k.Fingerprint, err = k.fingerprint("pub:", false); err != nil {
			return err
		}
		k.SigningFingerprint = k.Fingerprint
	}
	return k.RefreshArmored()
}

// Close stops the gpg-agent of the key's GNUPGHOME; it leaves the
// directory to its owner.
func (k *GPGKey) Close() error {
	cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
	cmd.Env = append(os.Environ(), "GNUPGHOME="+k.Home)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("gpgconf --kill gpg-agent: %w\n%s", err, out)
	}
	return nil
}

// GPG runs the real gpg on the key's GNUPGHOME with stdin (nil for none)
// and returns its standard output; a failure's error holds gpg's
// standard error.
func (k *GPGKey) GPG(stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command("gpg", append([]string{"--homedir", k.Home}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = string(ee.Stderr)
		}
		return nil, fmt.Errorf("gpg %s: %w\n%s", strings.Join(args, " "), err, stderr)
	}
	return out, nil
}

// RefreshArmored re-exports the public key into Armored, after a change
// to it (a new expiry, a revocation).
func (k *GPGKey) RefreshArmored() error {
	out, err := k.GPG(nil, "--armor", "--export", k.Fingerprint)
	if err != nil {
		return err
	}
	k.Armored = string(out)
	return nil
}

// fingerprint returns the fingerprint of the first (or, with last, the
// last) key record of kind ("pub:" or "sub:") in gpg's colon listing.
func (k *GPGKey) fingerprint(kind string, last bool) (string, error) {
	out, err := k.GPG(nil, "--with-colons", "--list-keys", k.Email)
	if err != nil {
		return "", err
	}
	fpr := ""
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, kind) && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "fpr:") {
			if fields := strings.Split(lines[i+1], ":"); len(fields) > 9 {
				fpr = fields[9]
			}
			if !last {
				break
			}
		}
	}
	if fpr == "" {
		return "", fmt.Errorf("gpg lists no %s fingerprint for %s", strings.TrimSuffix(kind, ":"), k.Email)
	}
	return fpr, nil
}

// GitConfig implements Signer.
func (k *GPGKey) GitConfig() []string {
	return []string{"-c", "gpg.format=openpgp", "-c", "user.signingkey=" + k.SigningFingerprint + "!", "-c", "gpg.program=gpg"}
}

// Env implements Signer.
func (k *GPGKey) Env() []string { return []string{"GNUPGHOME=" + k.Home} }

// PublicKey implements Signer.
func (k *GPGKey) PublicKey() string { return k.Armored }

// Format implements Signer.
func (k *GPGKey) Format() string { return "openpgp" }

// SSHKey is an SSH key pair made by the real ssh-keygen.
type SSHKey struct {
	Name          string
	PrivatePath   string
	AuthorizedKey string
}

// NewSSHKey makes an ed25519 SSH key pair for name without a passphrase
// in dir.
func NewSSHKey(dir, name string) (*SSHKey, error) {
	return NewSSHKeyOfType(dir, name, "ed25519", 0)
}

// NewSSHKeyOfType makes an SSH key pair for name without a passphrase in
// dir (created if missing), of ssh-keygen's type keyType (ed25519, rsa,
// ecdsa) and size bits (0: ssh-keygen's default).
func NewSSHKeyOfType(dir, name, keyType string, bits int) (*SSHKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "id_"+keyType)
	args := []string{"-q", "-t", keyType, "-N", "", "-C", name + "@example.test", "-f", path}
	if bits > 0 {
		args = append(args, "-b", fmt.Sprint(bits))
	}
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ssh-keygen for %s: %w\n%s", name, err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		return nil, fmt.Errorf("ssh public key of %s: %w", name, err)
	}
	return &SSHKey{Name: name, PrivatePath: path, AuthorizedKey: strings.TrimSpace(string(pub))}, nil
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

// writeFile writes content to path, making its directory first.
func writeFile(path, content string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), mode)
}
