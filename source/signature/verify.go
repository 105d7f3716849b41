package signature

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

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

// Options says how Check judges a signature.
type Options struct {
	// Namespace is the SSH namespace the signature must be in; "" means
	// Namespace ("git"). OpenPGP signatures have no namespace.
	Namespace string
	// Subject names the signed document in messages; "" means "commit".
	Subject string
	// At is the time the signature is judged at: OpenPGP key and
	// signature expiry and revocations that are not retroactive, SSH
	// valid-after/valid-before. The zero time means now. A commit
	// verifier passes the signature's own creation time for OpenPGP
	// (SignatureTime, once checked against the commit graph) or the
	// committer time for SSH, so that history signed while a key was
	// valid still verifies after the key expires.
	At time.Time
}

// maxClockSkew is how far after At an OpenPGP signature may claim to be
// made (signers' clocks differ); a later claim is refused.
const maxClockSkew = time.Second

// Verify checks sig over payload against the keys of kr at time now. It
// returns the signer, or a *reason.Error (with an empty Commit) naming
// what is wrong: Unsigned, UnknownKey, BadSignature, KeyRevoked or
// KeyExpired. It is Check with Options{At: now}.
func Verify(kr *trust.Keyring, payload, sig []byte, now time.Time) (Signer, error) {
	return Check(kr, payload, sig, Options{At: now})
}

// VerifyIn is Verify for a document other than a git commit: SSH
// signatures must be in namespace, and messages call the signed document
// subject ("bundle manifest"). It is Check with those Options.
func VerifyIn(kr *trust.Keyring, payload, sig []byte, namespace, subject string, now time.Time) (Signer, error) {
	return Check(kr, payload, sig, Options{Namespace: namespace, Subject: subject, At: now})
}

// Check checks sig over payload against the keys of kr, judged as o says.
// It returns the signer, or a *reason.Error (with an empty Commit) naming
// what is wrong:
//
//   - Unsigned: sig is empty.
//   - UnknownKey: no principal holds the signing key.
//   - BadSignature: sig cannot be read, is not a single OpenPGP or SSH
//     signature, does not verify over payload, uses a weak digest
//     (SHA-1, MD5, RIPEMD-160; for SSH anything but sha256/sha512 and the
//     SHA-1 "ssh-rsa" RSA algorithm), is an SSH signature in another
//     namespace than o.Namespace or by a key restricted to other
//     namespaces, or is an OpenPGP signature claiming to be made more
//     than a second after o.At or before its key was created.
//   - KeyRevoked: the policy marks the key revoked, or it carries an
//     OpenPGP revocation in force at o.At; a revocation for another reason
//     than "superseded" or "retired" (a compromised key, or no reason)
//     voids signatures of any time.
//   - KeyExpired: at o.At the OpenPGP key, subkey or signature has
//     expired, or o.At is outside the SSH key's valid-after/valid-before
//     window.
func Check(kr *trust.Keyring, payload, sig []byte, o Options) (Signer, error) {
	if o.Namespace == "" {
		o.Namespace = Namespace
	}
	if o.Subject == "" {
		o.Subject = "commit"
	}
	if o.At.IsZero() {
		o.At = time.Now()
	}
	s := bytes.TrimSpace(sig)
	switch {
	case len(s) == 0:
		return Signer{}, reason.Errorf(reason.Unsigned, "", "%s is not signed", o.Subject)
	case bytes.HasPrefix(s, []byte(pgpBegin)):
		return checkOpenPGP(kr, payload, s, o)
	case bytes.HasPrefix(s, []byte(sshBegin)):
		return checkSSH(kr, payload, s, o)
	default:
		first, _, _ := strings.Cut(string(s), "\n")
		return Signer{}, reason.Errorf(reason.BadSignature, "", "unsupported signature format %q (OpenPGP and SSH are accepted)", truncate(first, 40))
	}
}

// SignatureTime returns the creation time an OpenPGP signature claims (no
// cryptography; false for SSH signatures, which carry no time, and for
// unreadable input). It reads the signature as Check does.
func SignatureTime(sig []byte) (time.Time, bool) {
	s := bytes.TrimSpace(sig)
	if !bytes.HasPrefix(s, []byte(pgpBegin)) {
		return time.Time{}, false
	}
	pkt, _, _, err := readOpenPGP(s)
	if err != nil || pkt == nil || pkt.CreationTime.IsZero() {
		return time.Time{}, false
	}
	return pkt.CreationTime, true
}

// readOpenPGP decodes an armored detached OpenPGP signature, which must
// hold exactly one signature packet, of a document (binary or text). It
// returns the packet, the binary signature and, when the signature uses a
// weak digest, its name; go-crypto cannot parse a signature with MD5 or
// RIPEMD-160, so then the packet may be nil.
func readOpenPGP(sig []byte) (pkt *packet.Signature, body []byte, weak string, err error) {
	block, err := armor.Decode(bytes.NewReader(sig))
	if err != nil {
		return nil, nil, "", fmt.Errorf("OpenPGP signature cannot be decoded: %w", err)
	}
	buf := new(bytes.Buffer)
	if _, err := buf.ReadFrom(block.Body); err != nil {
		return nil, nil, "", fmt.Errorf("OpenPGP signature armor is corrupt: %w", err)
	}
	body = buf.Bytes()
	var raw *packet.OpaquePacket
	n := 0
	packets := packet.NewOpaqueReader(bytes.NewReader(body))
	for {
		op, err := packets.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, "", fmt.Errorf("OpenPGP signature cannot be read: %w", err)
		}
		if op.Tag != tagSignature {
			return nil, nil, "", fmt.Errorf("OpenPGP signature holds a packet of type %d, not only a signature", op.Tag)
		}
		raw = op
		n++
	}
	switch {
	case n == 0:
		return nil, nil, "", errors.New("OpenPGP armor holds no signature")
	case n > 1:
		return nil, nil, "", fmt.Errorf("OpenPGP signature holds %d signatures; a signed document carries the signature of one key", n)
	}
	weak = weakDigestOf(raw.Contents)
	p, err := packet.Read(bytes.NewReader(body))
	if err != nil {
		if weak != "" {
			return nil, body, weak, nil
		}
		return nil, nil, "", fmt.Errorf("OpenPGP signature cannot be read: %w", err)
	}
	pkt, ok := p.(*packet.Signature)
	if !ok {
		return nil, nil, "", errors.New("OpenPGP signature holds no signature")
	}
	if t := pkt.SigType; t != packet.SigTypeBinary && t != packet.SigTypeText {
		return nil, nil, "", fmt.Errorf("OpenPGP signature is of type %#x, not a signature of a document", uint8(t))
	}
	return pkt, body, weak, nil
}

// tagSignature is the OpenPGP packet type of a signature.
const tagSignature = 2

// weakDigests are the OpenPGP hash algorithm ids refused in signatures of
// documents (RFC 9580, 9.5), by name.
var weakDigests = map[byte]string{1: "MD5", 2: "SHA-1", 3: "RIPEMD-160"}

// weakDigestOf returns the name of the weak digest a raw signature packet
// uses, or "". The hash algorithm id is the fourth octet of a version 4,
// 5 or 6 signature and the seventeenth of a version 3 one.
func weakDigestOf(contents []byte) string {
	at := 3
	if len(contents) > 0 && contents[0] == 3 {
		at = 16
	}
	if len(contents) <= at {
		return ""
	}
	return weakDigests[contents[at]]
}

func checkOpenPGP(kr *trust.Keyring, payload, sig []byte, o Options) (Signer, error) {
	pkt, body, weak, err := readOpenPGP(sig)
	if err != nil {
		return Signer{}, reason.Errorf(reason.BadSignature, "", "%v", err)
	}
	if weak != "" {
		by := ""
		if pkt != nil {
			by = " by key " + issuerOf(pkt)
		}
		return Signer{}, reason.Errorf(reason.BadSignature, "", "OpenPGP signature%s uses the weak digest %s; re-sign with SHA-256 or stronger", by, weak)
	}
	issuer := issuerOf(pkt)
	// Judge at o.At; a claim up to maxClockSkew later is judged at its own
	// time so that it is not taken for expired (go-crypto counts a
	// signature made after the judging time as expired).
	judge := o.At
	if d := pkt.CreationTime.Sub(o.At); d > 0 && d <= maxClockSkew {
		judge = pkt.CreationTime
	}
	cfg := &packet.Config{Time: func() time.Time { return judge }}
	_, ent, err := openpgp.VerifyDetachedSignature(kr.OpenPGP(), bytes.NewReader(payload), bytes.NewReader(body), cfg)
	if ent == nil {
		if err == nil || errors.Is(err, pgperrors.ErrUnknownIssuer) {
			return Signer{}, reason.Errorf(reason.UnknownKey, "", "signed by OpenPGP key %s, which no principal of the trust policy holds", issuer)
		}
		return Signer{}, reason.Errorf(reason.BadSignature, "", "OpenPGP signature by key %s does not verify over the %s: %v", issuer, o.Subject, err)
	}
	// The signature verifies cryptographically; now judge the key.
	holder, _ := kr.OpenPGPHolder(ent)
	signer := Signer{Principal: holder.Principal, Key: holder.ID, Format: OpenPGP}
	key, ok := signingKey(ent, pkt)
	if !ok {
		return Signer{}, reason.Errorf(reason.BadSignature, "", "OpenPGP signature by key %s names no signing key of %s", issuer, holder.ID)
	}
	if pkt.CreationTime.Sub(o.At) > maxClockSkew {
		return Signer{}, reason.Errorf(reason.BadSignature, "", "OpenPGP signature by key %s of principal %q claims to be made at %s, after %s, the time the %s is judged at",
			holder.ID, holder.Principal, stamp(pkt.CreationTime), stamp(o.At), o.Subject)
	}
	if rev := hardRevocation(ent, key); rev != nil {
		return signer, reason.Errorf(reason.KeyRevoked, "", "signed by OpenPGP key %s of principal %q, which carries an OpenPGP revocation (%s) of %s; it voids signatures made before it too",
			holder.ID, holder.Principal, revocationReason(rev), stamp(rev.CreationTime))
	}
	switch {
	case err == nil:
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return signer, reason.Errorf(reason.KeyRevoked, "", "signed by OpenPGP key %s of principal %q, which carries an OpenPGP revocation in force at %s", holder.ID, holder.Principal, stamp(judge))
	case errors.Is(err, pgperrors.ErrKeyExpired), errors.Is(err, pgperrors.ErrSignatureExpired):
		if rerr := validity(holder, ent, key, pkt, judge, o.Subject); rerr != nil {
			if rerr.Code == reason.BadSignature {
				return Signer{}, rerr
			}
			return signer, rerr
		}
	default:
		return Signer{}, reason.Errorf(reason.BadSignature, "", "OpenPGP signature by key %s of principal %q is not acceptable: %v", holder.ID, holder.Principal, err)
	}
	if holder.Revoked {
		return signer, reason.Errorf(reason.KeyRevoked, "", "signed by OpenPGP key %s of principal %q, revoked in the trust policy", holder.ID, holder.Principal)
	}
	return signer, nil
}

// signingKey returns the key of ent that made pkt.
func signingKey(ent *openpgp.Entity, pkt *packet.Signature) (openpgp.Key, bool) {
	if pkt.IssuerKeyId == nil {
		return openpgp.Key{}, false
	}
	for _, k := range (openpgp.EntityList{ent}).KeysByIdUsage(*pkt.IssuerKeyId, packet.KeyFlagSign) {
		if len(pkt.IssuerFingerprint) == 0 || bytes.Equal(pkt.IssuerFingerprint, k.PublicKey.Fingerprint) {
			return k, true
		}
	}
	return openpgp.Key{}, false
}

// hardRevocation returns a revocation of ent's primary key or of the
// signing subkey that is not limited in time: any reason but "superseded"
// and "retired" (RFC 9580, 5.2.3.31) says the key may have been misused
// before the revocation was made, so it voids earlier signatures too.
// go-crypto honours only "compromised" so; a revocation with no reason,
// as gpg's generated revocation certificates carry, it applies from its
// creation time on.
func hardRevocation(ent *openpgp.Entity, key openpgp.Key) *packet.Signature {
	revs := ent.Revocations
	if key.PublicKey != ent.PrimaryKey {
		revs = append(append([]*packet.Signature(nil), revs...), key.Revocations...)
	}
	for _, r := range revs {
		if r.RevocationReason == nil || (*r.RevocationReason != packet.KeySuperseded && *r.RevocationReason != packet.KeyRetired) {
			return r
		}
	}
	return nil
}

func revocationReason(r *packet.Signature) string {
	if r.RevocationReason == nil {
		return "no reason given"
	}
	switch *r.RevocationReason {
	case packet.NoReason:
		return "no reason specified"
	case packet.KeyCompromised:
		return "key compromised"
	default:
		return fmt.Sprintf("reason %d", *r.RevocationReason)
	}
}

// validity explains go-crypto's ErrKeyExpired or ErrSignatureExpired at
// time at, or returns nil when neither key nor signature had expired at
// at. go-crypto also counts a self-signature made after at as expired:
// a key whose expiry was later extended would void its own history. The
// key's current self-signatures say when it is valid; they are judged by
// their lifetimes, not by when they were made.
func validity(h trust.Holder, ent *openpgp.Entity, key openpgp.Key, pkt *packet.Signature, at time.Time, subject string) *reason.Error {
	primarySig, _ := ent.PrimarySelfSignature()
	keys := []struct {
		name string
		pub  *packet.PublicKey
		self *packet.Signature
	}{{"OpenPGP key " + h.ID, ent.PrimaryKey, primarySig}}
	if key.PublicKey != ent.PrimaryKey {
		keys = append(keys, struct {
			name string
			pub  *packet.PublicKey
			self *packet.Signature
		}{fmt.Sprintf("signing subkey %X of OpenPGP key %s", key.PublicKey.Fingerprint, h.ID), key.PublicKey, key.SelfSignature})
	}
	for _, k := range keys {
		if k.pub.CreationTime.Unix() > at.Unix() {
			return reason.Errorf(reason.BadSignature, "", "signature by %s of principal %q claims to be made at %s, before the key was created at %s",
				k.name, h.Principal, stamp(pkt.CreationTime), stamp(k.pub.CreationTime))
		}
		if k.self != nil && k.pub.KeyExpired(k.self, at) {
			exp := k.pub.CreationTime.Add(time.Duration(*k.self.KeyLifetimeSecs) * time.Second)
			return reason.Errorf(reason.KeyExpired, "", "signed by %s of principal %q, valid from %s until %s, which has expired at %s, the time the %s is judged at",
				k.name, h.Principal, stamp(k.pub.CreationTime), stamp(exp), stamp(at), subject)
		}
	}
	if end, ok := sigExpiry(pkt); ok && at.Unix() > end.Unix() {
		return reason.Errorf(reason.KeyExpired, "", "signature by OpenPGP key %s of principal %q expired at %s, before %s, the time the %s is judged at", h.ID, h.Principal, stamp(end), stamp(at), subject)
	}
	selfSigs := []*packet.Signature{primarySig}
	if key.PublicKey != ent.PrimaryKey && key.SelfSignature != nil {
		selfSigs = append(selfSigs, key.SelfSignature, key.SelfSignature.EmbeddedSignature)
	}
	for _, s := range selfSigs {
		if end, ok := sigExpiry(s); ok && at.Unix() > end.Unix() {
			return reason.Errorf(reason.KeyExpired, "", "a self-signature of OpenPGP key %s of principal %q expired at %s, before %s, the time the %s is judged at", h.ID, h.Principal, stamp(end), stamp(at), subject)
		}
	}
	return nil
}

// sigExpiry returns when s expires, if it has a lifetime.
func sigExpiry(s *packet.Signature) (time.Time, bool) {
	if s == nil || s.SigLifetimeSecs == nil || *s.SigLifetimeSecs == 0 {
		return time.Time{}, false
	}
	return s.CreationTime.Add(time.Duration(*s.SigLifetimeSecs) * time.Second), true
}

// stamp formats a time for messages, in UTC to the second.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// issuerOf names the key a signature claims to be made by, for messages:
// its issuer fingerprint when present, else its key id.
func issuerOf(s *packet.Signature) string {
	if len(s.IssuerFingerprint) > 0 {
		return fmt.Sprintf("%X", s.IssuerFingerprint)
	}
	if s.IssuerKeyId != nil {
		return fmt.Sprintf("%016X", *s.IssuerKeyId)
	}
	return "(no issuer)"
}

// sshBlob is the wire form of an SSH signature (PROTOCOL.sshsig), read
// before sshsig parses it to name a weak digest precisely.
type sshBlob struct {
	Magic         [6]byte
	Version       uint32
	PublicKey     string
	Namespace     string
	Reserved      string
	HashAlgorithm string
	Signature     string
}

// weakSSH returns why an armored SSH signature uses a weak digest, or "".
// Input that does not parse is left to sshsig to report.
func weakSSH(sig []byte) string {
	p, _ := pem.Decode(sig)
	if p == nil || p.Type != sshsig.PEMType {
		return ""
	}
	var b sshBlob
	if err := ssh.Unmarshal(p.Bytes, &b); err != nil {
		return ""
	}
	key := "(unreadable)"
	if pub, err := ssh.ParsePublicKey([]byte(b.PublicKey)); err == nil {
		key = ssh.FingerprintSHA256(pub)
	}
	switch b.HashAlgorithm {
	case string(sshsig.HashSHA256), string(sshsig.HashSHA512):
	case "sha1":
		return fmt.Sprintf("SSH signature by key %s uses the weak digest SHA-1; re-sign with SHA-256 or stronger (ssh-keygen -Y sign uses sha512)", key)
	default:
		return fmt.Sprintf("SSH signature by key %s uses the hash algorithm %q; only sha256 and sha512 are accepted", key, truncate(b.HashAlgorithm, 40))
	}
	var s ssh.Signature
	if err := ssh.Unmarshal([]byte(b.Signature), &s); err != nil {
		return ""
	}
	switch s.Format {
	case ssh.KeyAlgoRSA:
		return fmt.Sprintf("SSH signature by key %s is an RSA signature of algorithm ssh-rsa, which uses the weak digest SHA-1; re-sign with rsa-sha2-512 (as ssh-keygen -Y sign does)", key)
	case "ssh-dss": // ssh.KeyAlgoDSA, deprecated
		return fmt.Sprintf("SSH signature by key %s is a DSA signature (ssh-dss), which uses the weak digest SHA-1; re-sign with an Ed25519, ECDSA or RSA key", key)
	}
	return ""
}

func checkSSH(kr *trust.Keyring, payload, sig []byte, o Options) (Signer, error) {
	if weak := weakSSH(sig); weak != "" {
		return Signer{}, reason.Errorf(reason.BadSignature, "", "%s", weak)
	}
	s, err := sshsig.Unarmor(sig)
	if err != nil {
		return Signer{}, reason.Errorf(reason.BadSignature, "", "SSH signature cannot be parsed: %v", err)
	}
	holder, ok := kr.SSHHolder(s.PublicKey)
	if !ok {
		return Signer{}, reason.Errorf(reason.UnknownKey, "", "signed by SSH key %s, which no principal of the trust policy holds", fingerprintOf(s))
	}
	signer := Signer{Principal: holder.Principal, Key: holder.ID, Format: SSH}
	if s.Namespace != o.Namespace {
		return Signer{}, reason.Errorf(reason.BadSignature, "", "SSH signature by key %s is in namespace %q, not %q", holder.ID, truncate(s.Namespace, 40), o.Namespace)
	}
	if !holder.AllowsNamespace(o.Namespace) {
		return Signer{}, reason.Errorf(reason.BadSignature, "", "SSH key %s of principal %q may sign only in namespaces %q (its namespaces option), not in %q, the namespace of a %s",
			holder.ID, holder.Principal, strings.Join(holder.Namespaces, ","), o.Namespace, o.Subject)
	}
	if err := sshsig.Verify(bytes.NewReader(payload), s, s.PublicKey, s.HashAlgorithm, o.Namespace); err != nil {
		return Signer{}, reason.Errorf(reason.BadSignature, "", "SSH signature by key %s of principal %q does not verify over the %s: %v", holder.ID, holder.Principal, o.Subject, err)
	}
	if holder.Revoked {
		return signer, reason.Errorf(reason.KeyRevoked, "", "signed by SSH key %s of principal %q, revoked in the trust policy", holder.ID, holder.Principal)
	}
	if !holder.ValidAt(o.At) {
		return signer, reason.Errorf(reason.KeyExpired, "", "signed by SSH key %s of principal %q, which signs only %s (its valid-after/valid-before options); the %s is judged at %s",
			holder.ID, holder.Principal, window(holder), o.Subject, stamp(o.At))
	}
	return signer, nil
}

// window describes an SSH key's validity window.
func window(h trust.Holder) string {
	switch {
	case h.ValidBefore.IsZero():
		return "from " + stamp(h.ValidAfter) + " on"
	case h.ValidAfter.IsZero():
		return "until " + stamp(h.ValidBefore)
	default:
		return "from " + stamp(h.ValidAfter) + " until " + stamp(h.ValidBefore)
	}
}
