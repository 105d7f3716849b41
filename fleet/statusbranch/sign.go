package statusbranch

import (
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"golang.org/x/crypto/ssh"

	"github.com/nodewright/nodewright/source/signature"
)

// Signer signs commits with a cluster's key.
type Signer interface {
	// Sign returns the ASCII-armored detached signature over payload (the
	// commit without its gpgsig header) made at time at, as git stores it
	// in the gpgsig header.
	Sign(payload []byte, at time.Time) ([]byte, error)
}

// KeySigner signs commits with a signature.Key as `git commit -S` does
// (SSH signatures in namespace git).
type KeySigner struct {
	key *signature.Key
}

// Sign implements Signer.
func (s *KeySigner) Sign(payload []byte, at time.Time) ([]byte, error) {
	return s.key.Sign(payload, signature.Namespace, at)
}

// NewOpenPGPSigner returns a Signer for e, which must hold a decrypted
// private key that can sign (its primary key or a signing subkey).
func NewOpenPGPSigner(e *openpgp.Entity) (*KeySigner, error) {
	k, err := signature.KeyFromEntity(e)
	if err != nil {
		return nil, err
	}
	return &KeySigner{key: k}, nil
}

// NewSSHSigner returns a Signer for the SSH key s.
func NewSSHSigner(s ssh.Signer) *KeySigner {
	return &KeySigner{key: signature.KeyFromSSH(s)}
}

// ParseSigningKey reads a cluster's private key as it is stored in a file
// or Secret (see signature.ParseKey).
func ParseSigningKey(data []byte) (Signer, error) {
	k, err := signature.ParseKey(data)
	if err != nil {
		return nil, err
	}
	return &KeySigner{key: k}, nil
}
