package signature

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"github.com/nodewright/nodewright/source/trust"
)

// Key is a private key that signs as git and ssh-keygen do: status-branch
// commits (namespace git) and bundle manifests. It is an unencrypted SSH
// private key, or an OpenPGP secret key with no passphrase.
type Key struct {
	ssh ssh.Signer
	pgp *openpgp.Entity
	id  string
}

// maxKeyFile bounds a key file; larger files are refused unread.
const maxKeyFile = 1 << 20

// LoadKey reads a key file (see ParseKey).
func LoadKey(path string) (*Key, error) {
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
	k, err := ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParseKey reads a private key as it is kept in a file or Secret: an
// ASCII-armored OpenPGP secret key (`gpg --armor --export-secret-keys`)
// or an SSH private key (OpenSSH or PEM). Passphrase-protected keys are
// refused.
func ParseKey(data []byte) (*Key, error) {
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----")) {
		ents, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(trimmed))
		if err != nil {
			return nil, fmt.Errorf("signing key: OpenPGP: %w", err)
		}
		if len(ents) != 1 {
			return nil, fmt.Errorf("signing key: holds %d OpenPGP keys; export exactly one", len(ents))
		}
		return KeyFromEntity(ents[0])
	}
	s, err := ssh.ParsePrivateKey(trimmed)
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, errors.New("signing key: the SSH key is protected by a passphrase")
		}
		return nil, fmt.Errorf("signing key: neither an armored OpenPGP secret key nor an SSH private key: %w", err)
	}
	return KeyFromSSH(s), nil
}

// KeyFromEntity returns a Key for e, which must hold an unencrypted
// private key that can sign (its primary key or a signing subkey).
func KeyFromEntity(e *openpgp.Entity) (*Key, error) {
	if e == nil || e.PrivateKey == nil {
		return nil, errors.New("signing key: the OpenPGP key has no secret part")
	}
	k, ok := e.SigningKey(time.Now())
	if !ok || k.PrivateKey == nil {
		return nil, errors.New("signing key: the OpenPGP key has no usable signing key")
	}
	if k.PrivateKey.Encrypted {
		return nil, errors.New("signing key: the OpenPGP secret key is protected by a passphrase")
	}
	return &Key{pgp: e, id: trust.Fingerprint(e)}, nil
}

// KeyFromSSH returns a Key for the SSH signer s.
func KeyFromSSH(s ssh.Signer) *Key {
	return &Key{ssh: s, id: ssh.FingerprintSHA256(s.PublicKey())}
}

// Format returns the key's signature format.
func (k *Key) Format() Format {
	if k.pgp != nil {
		return OpenPGP
	}
	return SSH
}

// ID returns the key's OpenPGP primary fingerprint or SSH SHA256
// fingerprint, as trust.Holder.ID names it.
func (k *Key) ID() string { return k.id }

// Sign makes an armored detached signature of payload at time at: SSH
// (SHA-512) in namespace, as ssh-keygen -Y sign does; OpenPGP (which has
// no namespace) as gpg --detach-sign --armor does. Both end in one
// newline, as git stores them.
func (k *Key) Sign(payload []byte, namespace string, at time.Time) ([]byte, error) {
	var out []byte
	if k.pgp != nil {
		var buf bytes.Buffer
		cfg := &packet.Config{DefaultHash: crypto.SHA256, Time: func() time.Time { return at }}
		if err := openpgp.ArmoredDetachSign(&buf, k.pgp, bytes.NewReader(payload), cfg); err != nil {
			return nil, fmt.Errorf("OpenPGP sign: %w", err)
		}
		out = buf.Bytes()
	} else {
		sig, err := sshsig.Sign(bytes.NewReader(payload), k.ssh, sshsig.HashSHA512, namespace)
		if err != nil {
			return nil, fmt.Errorf("SSH sign: %w", err)
		}
		out = sshsig.Armor(sig)
	}
	return append(bytes.TrimRight(out, "\n"), '\n'), nil
}
