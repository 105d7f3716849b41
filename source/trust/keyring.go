package trust

import (
	"encoding/hex"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"golang.org/x/crypto/ssh"
)

// Holder says who holds a key and whether the policy revoked it.
type Holder struct {
	// Principal is the name of the principal holding the key.
	Principal string
	// ID is the key's OpenPGP primary fingerprint (upper-case hex) or SSH
	// SHA256 fingerprint.
	ID string
	// Revoked is true when the policy marks the key revoked.
	Revoked bool
	// Namespaces, for an SSH key listed with namespaces="...", are the
	// patterns of the SSH signature namespaces it may sign in, as listed
	// (see AllowsNamespace). Empty means any namespace.
	Namespaces []string
	// ValidAfter, for an SSH key listed with valid-after="...", is the
	// earliest time (UTC) a signature by it may be judged at; zero means
	// no bound (see ValidAt).
	ValidAfter time.Time
	// ValidBefore, for an SSH key listed with valid-before="...", is the
	// latest time (UTC) a signature by it may be judged at; zero means no
	// bound (see ValidAt).
	ValidBefore time.Time
}

// Keyring indexes a policy's keys for signature verification.
type Keyring struct {
	pgp        openpgp.EntityList
	pgpHolders map[string]Holder
	ssh        map[string]Holder
}

func newKeyring() *Keyring {
	return &Keyring{pgpHolders: map[string]Holder{}, ssh: map[string]Holder{}}
}

// OpenPGP returns the OpenPGP keys as a keyring for go-crypto.
func (k *Keyring) OpenPGP() openpgp.EntityList { return k.pgp }

// OpenPGPHolder returns who holds the OpenPGP key e (any of its subkeys
// count as e's).
func (k *Keyring) OpenPGPHolder(e *openpgp.Entity) (Holder, bool) {
	h, ok := k.pgpHolders[Fingerprint(e)]
	return h, ok
}

// SSHHolder returns who holds the SSH key pub.
func (k *Keyring) SSHHolder(pub ssh.PublicKey) (Holder, bool) {
	h, ok := k.ssh[ssh.FingerprintSHA256(pub)]
	return h, ok
}

// Fingerprint returns the upper-case hex fingerprint of e's primary key, as
// gpg prints it.
func Fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

// HolderByID returns who holds the key with the given ID (as in Holder.ID).
func (k *Keyring) HolderByID(id string) (Holder, bool) {
	if h, ok := k.pgpHolders[id]; ok {
		return h, true
	}
	h, ok := k.ssh[id]
	return h, ok
}

// NewKeyring indexes the keys of principals as Parse indexes a policy's,
// for documents other than a TrustPolicy that list public keys in the same
// shape (such as the cluster keys of .nodewright/clusters.yaml). Each key
// is checked as in a policy: exactly one of openpgp or ssh, a single public
// key, held by one principal only. Problems carry the key's field path
// under principals (such as principals[1].keys[0].ssh) and neither file nor
// line; the principals' names are the caller's to check.
func NewKeyring(principals []Principal) (*Keyring, Errors) {
	v := validator{}
	kr := newKeyring()
	for i, pr := range principals {
		for j, k := range pr.Keys {
			v.key(kr, pr.Name, k, p("principals", i, "keys", j))
		}
	}
	return kr, v.Errs
}
