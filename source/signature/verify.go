package signature

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/hiddeco/sshsig"

	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/trust"
)

// Format is a signature format.
type Format string

const (
	// OpenPGP signatures are made by gpg (git's gpg.format=openpgp).
	OpenPGP Format = "openpgp"
	// SSH signatures are made by ssh-keygen -Y sign (git's gpg.format=ssh).
	SSH Format = "ssh"
)

// Namespace is the SSH signature namespace git signs commits in.
const Namespace = "git"

const (
	pgpBegin = "-----BEGIN PGP SIGNATURE-----"
	sshBegin = "-----BEGIN SSH SIGNATURE-----"
)

// Signer is who made a verified signature.
type Signer struct {
	// Principal is the trust-policy principal holding the key.
	Principal string `json:"principal"`
	// Key is the principal's key: OpenPGP primary fingerprint or SSH
	// SHA256 fingerprint.
	Key string `json:"key"`
	// Format is the signature's format.
	Format Format `json:"format"`
}

// Verify checks sig over payload against the keys of kr at time now. It
// returns the signer, or a *reason.Error (with an empty Commit) naming
// what is wrong: Unsigned, UnknownKey, BadSignature, KeyRevoked or
// KeyExpired.
func Verify(kr *trust.Keyring, payload, sig []byte, now time.Time) (Signer, error) {
	return VerifyIn(kr, payload, sig, Namespace, "commit", now)
}

// VerifyIn is Verify for a document other than a git commit: SSH
// signatures must be in namespace, and messages call the signed document
// subject ("bundle manifest").
func VerifyIn(kr *trust.Keyring, payload, sig []byte, namespace, subject string, now time.Time) (Signer, error) {
	s := bytes.TrimSpace(sig)
	switch {
	case len(s) == 0:
		return Signer{}, reason.Errorf(reason.Unsigned, "", "%s is not signed", subject)
	case bytes.HasPrefix(s, []byte(pgpBegin)):
		return verifyOpenPGP(kr, payload, s, subject, now)
	case bytes.HasPrefix(s, []byte(sshBegin)):
		return verifySSH(kr, payload, s, namespace, subject)
	default:
		first, _, _ := strings.Cut(string(s), "\n")
		return Signer{}, reason.Errorf(reason.BadSignature, "", "unsupported signature format %q (OpenPGP and SSH are accepted)", truncate(first, 40))
	}
}

func verifyOpenPGP(kr *trust.Keyring, payload, sig []byte, subject string, now time.Time) (Signer, error) {
	block, err := armor.Decode(bytes.NewReader(sig))
	if err != nil {
		return Signer{}, reason.Errorf(reason.BadSignature, "", "OpenPGP signature cannot be decoded: %v", err)
	}
	body := new(bytes.Buffer)
	if _, err := body.ReadFrom(block.Body); err != nil {
		return Signer{}, reason.Errorf(reason.BadSignature, "", "OpenPGP signature armor is corrupt: %v", err)
	}
	issuer := issuerOf(body.Bytes())
	cfg := &packet.Config{Time: func() time.Time { return now }}
	_, ent, err := openpgp.VerifyDetachedSignature(kr.OpenPGP(), bytes.NewReader(payload), bytes.NewReader(body.Bytes()), cfg)
	if ent == nil && err == nil {
		err = pgperrors.ErrUnknownIssuer
	}
	var holder trust.Holder
	if ent != nil {
		holder, _ = kr.OpenPGPHolder(ent)
	}
	signer := Signer{Principal: holder.Principal, Key: holder.ID, Format: OpenPGP}
	switch {
	case err == nil:
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return Signer{}, reason.Errorf(reason.UnknownKey, "", "signed by OpenPGP key %s, which no principal of the trust policy holds", issuer)
	case errors.Is(err, pgperrors.ErrKeyExpired):
		return signer, reason.Errorf(reason.KeyExpired, "", "signed by OpenPGP key %s of principal %q, which has expired", holder.ID, holder.Principal)
	case errors.Is(err, pgperrors.ErrSignatureExpired):
		return signer, reason.Errorf(reason.KeyExpired, "", "signature by OpenPGP key %s of principal %q has expired", holder.ID, holder.Principal)
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return signer, reason.Errorf(reason.KeyRevoked, "", "signed by OpenPGP key %s of principal %q, which carries an OpenPGP revocation", holder.ID, holder.Principal)
	default:
		return Signer{}, reason.Errorf(reason.BadSignature, "", "OpenPGP signature by key %s does not verify over the %s: %v", issuer, subject, err)
	}
	if holder.Revoked {
		return signer, reason.Errorf(reason.KeyRevoked, "", "signed by OpenPGP key %s of principal %q, revoked in the trust policy", holder.ID, holder.Principal)
	}
	return signer, nil
}

// issuerOf names the key a binary signature claims to be made by, for
// messages: its issuer fingerprint when present, else its key id.
func issuerOf(body []byte) string {
	p, err := packet.Read(bytes.NewReader(body))
	if err != nil {
		return "(unreadable)"
	}
	s, ok := p.(*packet.Signature)
	if !ok {
		return "(not a signature)"
	}
	if len(s.IssuerFingerprint) > 0 {
		return fmt.Sprintf("%X", s.IssuerFingerprint)
	}
	if s.IssuerKeyId != nil {
		return fmt.Sprintf("%016X", *s.IssuerKeyId)
	}
	return "(no issuer)"
}

func verifySSH(kr *trust.Keyring, payload, sig []byte, namespace, subject string) (Signer, error) {
	s, err := sshsig.Unarmor(sig)
	if err != nil {
		return Signer{}, reason.Errorf(reason.BadSignature, "", "SSH signature cannot be parsed: %v", err)
	}
	holder, ok := kr.SSHHolder(s.PublicKey)
	if !ok {
		return Signer{}, reason.Errorf(reason.UnknownKey, "", "signed by SSH key %s, which no principal of the trust policy holds", fingerprintOf(s))
	}
	signer := Signer{Principal: holder.Principal, Key: holder.ID, Format: SSH}
	if s.Namespace != namespace {
		return Signer{}, reason.Errorf(reason.BadSignature, "", "SSH signature by key %s is in namespace %q, not %q", holder.ID, truncate(s.Namespace, 40), namespace)
	}
	if err := sshsig.Verify(bytes.NewReader(payload), s, s.PublicKey, s.HashAlgorithm, namespace); err != nil {
		return Signer{}, reason.Errorf(reason.BadSignature, "", "SSH signature by key %s of principal %q does not verify over the %s: %v", holder.ID, holder.Principal, subject, err)
	}
	if holder.Revoked {
		return signer, reason.Errorf(reason.KeyRevoked, "", "signed by SSH key %s of principal %q, revoked in the trust policy", holder.ID, holder.Principal)
	}
	return signer, nil
}
