package statusbranch

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// sshNamespace is the SSH signature namespace git signs commits in.
const sshNamespace = "git"

// Signer signs commits with a cluster's key.
type Signer interface {
	// Sign returns the ASCII-armored detached signature over payload (the
	// commit without its gpgsig header) made at time at, as git stores it
	// in the gpgsig header.
	Sign(payload []byte, at time.Time) ([]byte, error)
}

// OpenPGPSigner signs as gpg does for `git commit -S` with
// gpg.format=openpgp: a binary detached signature, ASCII-armored.
type OpenPGPSigner struct {
	entity *openpgp.Entity
}

// NewOpenPGPSigner returns a Signer for e, which must hold a decrypted
// private key that can sign (its primary key or a signing subkey).
func NewOpenPGPSigner(e *openpgp.Entity) (*OpenPGPSigner, error) {
	if e == nil || e.PrivateKey == nil {
		return nil, errors.New("openpgp signer: the key has no private part")
	}
	k, ok := e.SigningKey(time.Now())
	if !ok {
		return nil, errors.New("openpgp signer: the key has no valid signing key")
	}
	if k.PrivateKey == nil {
		return nil, errors.New("openpgp signer: the signing key has no private part")
	}
	if k.PrivateKey.Encrypted {
		return nil, errors.New("openpgp signer: the signing key is encrypted; decrypt it first")
	}
	return &OpenPGPSigner{entity: e}, nil
}

// Sign implements Signer.
func (s *OpenPGPSigner) Sign(payload []byte, at time.Time) ([]byte, error) {
	var buf bytes.Buffer
	cfg := &packet.Config{DefaultHash: crypto.SHA256, Time: func() time.Time { return at }}
	if err := openpgp.ArmoredDetachSign(&buf, s.entity, bytes.NewReader(payload), cfg); err != nil {
		return nil, fmt.Errorf("openpgp sign: %w", err)
	}
	return buf.Bytes(), nil
}

// SSHSigner signs as ssh-keygen -Y sign does for `git commit -S` with
// gpg.format=ssh: namespace "git", SHA-512, armored as an SSH SIGNATURE.
type SSHSigner struct {
	signer ssh.Signer
}

// NewSSHSigner returns a Signer for the SSH key s.
func NewSSHSigner(s ssh.Signer) *SSHSigner {
	return &SSHSigner{signer: s}
}

// Sign implements Signer; at is not part of an SSH signature.
func (s *SSHSigner) Sign(payload []byte, _ time.Time) ([]byte, error) {
	sig, err := sshsig.Sign(bytes.NewReader(payload), s.signer, sshsig.HashSHA512, sshNamespace)
	if err != nil {
		return nil, fmt.Errorf("ssh sign: %w", err)
	}
	return sshsig.Armor(sig), nil
}

// ParseSigningKey reads a cluster's private key as it is stored in a file
// or Secret: an ASCII-armored OpenPGP secret key ("-----BEGIN PGP PRIVATE
// KEY BLOCK-----", as `gpg --armor --export-secret-keys` writes it) or an
// SSH private key (OpenSSH or PEM format). Keys protected by a passphrase
// are refused.
func ParseSigningKey(data []byte) (Signer, error) {
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----")) {
		ents, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(trimmed))
		if err != nil {
			return nil, fmt.Errorf("signing key: OpenPGP: %w", err)
		}
		if len(ents) != 1 {
			return nil, fmt.Errorf("signing key: expected one OpenPGP key, found %d", len(ents))
		}
		return NewOpenPGPSigner(ents[0])
	}
	s, err := ssh.ParsePrivateKey(trimmed)
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, errors.New("signing key: the SSH key is protected by a passphrase")
		}
		return nil, fmt.Errorf("signing key: neither an armored OpenPGP secret key nor an SSH private key: %w", err)
	}
	return NewSSHSigner(s), nil
}
