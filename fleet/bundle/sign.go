package bundle

import (
	"time"

	"github.com/nodewright/nodewright/source/signature"
	"github.com/nodewright/nodewright/source/trust"
)

// Namespace is the SSH signature namespace of bundle manifests. It differs
// from git's "git", so a manifest signature can never pass for a commit
// signature or the other way round.
const Namespace = "nodewright-bundle"

const (
	pgpSigBegin = "-----BEGIN PGP SIGNATURE-----"
	sshSigBegin = "-----BEGIN SSH SIGNATURE-----"
)

// SigningKey is a private key that signs manifests (and the merge commits
// of ImportStatus); see signature.Key.
type SigningKey = signature.Key

// LoadSigningKey reads a signing key file.
func LoadSigningKey(path string) (*SigningKey, error) { return signature.LoadKey(path) }

// ParseSigningKey reads a signing key from its file's content.
func ParseSigningKey(data []byte) (*SigningKey, error) { return signature.ParseKey(data) }

// verifyManifestSignature checks sig over payload against kr at time now
// and returns who signed, exactly as commit signatures are checked (SSH
// signatures in namespace Namespace). Failures are *reason.Error:
// Unsigned, UnknownKey, BadSignature, KeyRevoked, KeyExpired.
func verifyManifestSignature(kr *trust.Keyring, payload, sig []byte, now time.Time) (signature.Signer, error) {
	return signature.VerifyIn(kr, payload, sig, Namespace, "bundle manifest", now)
}
