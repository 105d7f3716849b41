package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/signature"
	"github.com/nodewright/nodewright/source/trust"
)

// Namespace is the SSH signature namespace of bundle manifests. It differs
// from git's "git", so a manifest signature can never pass for a commit
// signature or the other way round.
const Namespace = "nodewright-bundle"

// maxKeyFile bounds a signing key file.
const maxKeyFile = 1 << 20

const (
	pgpSigBegin = "-----BEGIN PGP SIGNATURE-----"
	sshSigBegin = "-----BEGIN SSH SIGNATURE-----"
)

// SigningKey is a private key that signs manifests (and the merge commits of
// ImportStatus): an unencrypted OpenSSH private key, or an ASCII-armored
// OpenPGP secret key as `gpg --armor --export-secret-keys` writes it, with
// no passphrase.
type SigningKey struct {
	ssh ssh.Signer
	pgp *openpgp.Entity
	id  string
}

// LoadSigningKey reads a signing key file.
func LoadSigningKey(path string) (*SigningKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxKeyFile {
		return nil, fmt.Errorf("%s is %d bytes, too large for a key", path, fi.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseSigningKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParseSigningKey reads a signing key from its file's content.
func ParseSigningKey(data []byte) (*SigningKey, error) {
	if bytes.Contains(data, []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----")) {
		ents, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("not an armored OpenPGP secret key: %v", err)
		}
		if len(ents) != 1 {
			return nil, fmt.Errorf("holds %d OpenPGP keys; export exactly one", len(ents))
		}
		e := ents[0]
		if e.PrivateKey == nil {
			return nil, errors.New("the OpenPGP key has no secret part")
		}
		if e.PrivateKey.Encrypted {
			return nil, errors.New("the OpenPGP secret key is passphrase-protected; export an unprotected signing key for this tool")
		}
		for _, sub := range e.Subkeys {
			if sub.PrivateKey != nil && sub.PrivateKey.Encrypted {
				return nil, errors.New("an OpenPGP secret subkey is passphrase-protected; export an unprotected signing key for this tool")
			}
		}
		return &SigningKey{pgp: e, id: trust.Fingerprint(e)}, nil
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, errors.New("the SSH private key is passphrase-protected; use an unprotected key")
		}
		return nil, fmt.Errorf("neither an OpenSSH private key nor an armored OpenPGP secret key: %v", err)
	}
	return &SigningKey{ssh: signer, id: ssh.FingerprintSHA256(signer.PublicKey())}, nil
}

// Format returns the key's signature format.
func (k *SigningKey) Format() signature.Format {
	if k.pgp != nil {
		return signature.OpenPGP
	}
	return signature.SSH
}

// ID returns the key's OpenPGP primary fingerprint or SSH SHA256
// fingerprint, as trust.Holder.ID names it.
func (k *SigningKey) ID() string { return k.id }

// sign makes an armored detached signature of payload: SSH in namespace,
// OpenPGP (which has no namespace) as gpg --detach-sign --armor would.
func (k *SigningKey) sign(payload []byte, namespace string, now time.Time) ([]byte, error) {
	if k.pgp != nil {
		var out bytes.Buffer
		cfg := &packet.Config{Time: func() time.Time { return now }}
		if err := openpgp.ArmoredDetachSign(&out, k.pgp, bytes.NewReader(payload), cfg); err != nil {
			return nil, fmt.Errorf("OpenPGP sign: %w", err)
		}
		return append(bytes.TrimRight(out.Bytes(), "\n"), '\n'), nil
	}
	sig, err := sshsig.Sign(bytes.NewReader(payload), k.ssh, sshsig.HashSHA512, namespace)
	if err != nil {
		return nil, fmt.Errorf("SSH sign: %w", err)
	}
	return append(bytes.TrimRight(sshsig.Armor(sig), "\n"), '\n'), nil
}

// verifyManifestSignature checks sig over payload against kr at time now
// and returns who signed. Failures are *reason.Error with the codes of
// commit signatures: Unsigned, UnknownKey, BadSignature, KeyRevoked,
// KeyExpired.
func verifyManifestSignature(kr *trust.Keyring, payload, sig []byte, now time.Time) (signature.Signer, error) {
	s := bytes.TrimSpace(sig)
	switch {
	case len(s) == 0:
		return signature.Signer{}, reason.Errorf(reason.Unsigned, "", "the bundle manifest is not signed")
	case bytes.HasPrefix(s, []byte(pgpSigBegin)):
		return verifyOpenPGP(kr, payload, s, now)
	case bytes.HasPrefix(s, []byte(sshSigBegin)):
		return verifySSH(kr, payload, s)
	default:
		first, _, _ := strings.Cut(string(s), "\n")
		return signature.Signer{}, reason.Errorf(reason.BadSignature, "", "the bundle manifest's signature has an unsupported format %q", clip(first))
	}
}

func verifyOpenPGP(kr *trust.Keyring, payload, sig []byte, now time.Time) (signature.Signer, error) {
	block, err := armor.Decode(bytes.NewReader(sig))
	if err != nil {
		return signature.Signer{}, reason.Errorf(reason.BadSignature, "", "the bundle manifest's OpenPGP signature cannot be decoded: %v", err)
	}
	body := new(bytes.Buffer)
	if _, err := body.ReadFrom(block.Body); err != nil {
		return signature.Signer{}, reason.Errorf(reason.BadSignature, "", "the bundle manifest's OpenPGP signature is corrupt: %v", err)
	}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	_, ent, err := openpgp.VerifyDetachedSignature(kr.OpenPGP(), bytes.NewReader(payload), bytes.NewReader(body.Bytes()), cfg)
	if ent == nil && err == nil {
		err = pgperrors.ErrUnknownIssuer
	}
	var holder trust.Holder
	if ent != nil {
		holder, _ = kr.OpenPGPHolder(ent)
	}
	signer := signature.Signer{Principal: holder.Principal, Key: holder.ID, Format: signature.OpenPGP}
	switch {
	case err == nil:
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return signature.Signer{}, reason.Errorf(reason.UnknownKey, "", "the bundle manifest is signed by OpenPGP key %s, which no trusted principal holds", issuerOf(body.Bytes()))
	case errors.Is(err, pgperrors.ErrKeyExpired), errors.Is(err, pgperrors.ErrSignatureExpired):
		return signer, reason.Errorf(reason.KeyExpired, "", "the bundle manifest is signed by OpenPGP key %s of %q, which has expired", holder.ID, holder.Principal)
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return signer, reason.Errorf(reason.KeyRevoked, "", "the bundle manifest is signed by OpenPGP key %s of %q, which carries an OpenPGP revocation", holder.ID, holder.Principal)
	default:
		return signature.Signer{}, reason.Errorf(reason.BadSignature, "", "the bundle manifest's OpenPGP signature does not verify: %v", err)
	}
	if holder.Revoked {
		return signer, reason.Errorf(reason.KeyRevoked, "", "the bundle manifest is signed by OpenPGP key %s of %q, revoked in the trust policy", holder.ID, holder.Principal)
	}
	return signer, nil
}

// issuerOf names the key an OpenPGP signature claims to be made by.
func issuerOf(body []byte) string {
	p, err := packet.Read(bytes.NewReader(body))
	if err != nil {
		return "(unreadable)"
	}
	s, ok := p.(*packet.Signature)
	switch {
	case !ok:
		return "(not a signature)"
	case len(s.IssuerFingerprint) > 0:
		return fmt.Sprintf("%X", s.IssuerFingerprint)
	case s.IssuerKeyId != nil:
		return fmt.Sprintf("%016X", *s.IssuerKeyId)
	}
	return "(no issuer)"
}

func verifySSH(kr *trust.Keyring, payload, sig []byte) (signature.Signer, error) {
	s, err := sshsig.Unarmor(sig)
	if err != nil {
		return signature.Signer{}, reason.Errorf(reason.BadSignature, "", "the bundle manifest's SSH signature cannot be parsed: %v", err)
	}
	if s.PublicKey == nil {
		return signature.Signer{}, reason.Errorf(reason.BadSignature, "", "the bundle manifest's SSH signature names no key")
	}
	holder, ok := kr.SSHHolder(s.PublicKey)
	if !ok {
		return signature.Signer{}, reason.Errorf(reason.UnknownKey, "", "the bundle manifest is signed by SSH key %s, which no trusted principal holds", ssh.FingerprintSHA256(s.PublicKey))
	}
	signer := signature.Signer{Principal: holder.Principal, Key: holder.ID, Format: signature.SSH}
	if s.Namespace != Namespace {
		return signature.Signer{}, reason.Errorf(reason.BadSignature, "", "the bundle manifest's SSH signature by key %s is in namespace %q, not %q", holder.ID, clip(s.Namespace), Namespace)
	}
	if err := sshsig.Verify(bytes.NewReader(payload), s, s.PublicKey, s.HashAlgorithm, Namespace); err != nil {
		return signature.Signer{}, reason.Errorf(reason.BadSignature, "", "the bundle manifest's SSH signature by key %s of %q does not verify: %v", holder.ID, holder.Principal, err)
	}
	if holder.Revoked {
		return signer, reason.Errorf(reason.KeyRevoked, "", "the bundle manifest is signed by SSH key %s of %q, revoked in the trust policy", holder.ID, holder.Principal)
	}
	return signer, nil
}
