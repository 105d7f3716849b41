package reason

import (
	"errors"
	"fmt"
	"strings"
)

// Code is a stable, machine-readable reason for a refusal.
type Code string

// The reason codes of DESIGN.md. Each surfaces as a REJECTED line on the
// command line and as a condition reason on a FleetSource.
const (
	// Unsigned surfaces when a commit in the range carries no signature.
	Unsigned Code = "Unsigned"
	// UnknownKey surfaces when a commit is signed by a key no principal of the
	// policy in force holds.
	UnknownKey Code = "UnknownKey"
	// BadSignature surfaces when a signature does not verify over the commit
	// payload, or cannot be parsed at all.
	BadSignature Code = "BadSignature"
	// KeyRevoked surfaces when the signing key is marked revoked in the policy
	// in force (or carries an OpenPGP revocation).
	KeyRevoked Code = "KeyRevoked"
	// KeyExpired surfaces when the signing OpenPGP key (or subkey) has expired.
	KeyExpired Code = "KeyExpired"
	// NotAuthorized surfaces when the signer's principal lacks the role the
	// commit needs (a file-changing commit by a non-committer).
	NotAuthorized Code = "NotAuthorized"
	// NotFastForward surfaces when the new tip does not descend from the last
	// accepted commit: a rollback or a force-push.
	NotFastForward Code = "NotFastForward"
	// PolicyRollback surfaces when trust.yaml changes without raising its
	// version by exactly one, or is removed.
	PolicyRollback Code = "PolicyRollback"
	// PolicyChangeNotApproved surfaces when trust.yaml changes without the
	// trust-admins threshold under the old policy.
	PolicyChangeNotApproved Code = "PolicyChangeNotApproved"
	// Stale surfaces when the newest accepted commit is older than the
	// policy's freshness.maxAge.
	Stale Code = "Stale"
	// BundleInvalid surfaces when a git bundle is corrupt or its
	// prerequisites are missing from the mirror.
	BundleInvalid Code = "BundleInvalid"
	// BundleReplay surfaces when a bundle is older than, or equal to, one
	// already imported.
	BundleReplay Code = "BundleReplay"
	// InvalidPolicy surfaces when a trust.yaml inside the repository cannot
	// be parsed or validated; the commit that introduced it is refused.
	InvalidPolicy Code = "InvalidPolicy"
	// PolicyMissing surfaces when a commit has no trust policy file, or has
	// something other than a regular file there, where a parent had one.
	PolicyMissing Code = "PolicyMissing"
	// MalformedObject surfaces when a commit or tree in the range is not
	// canonical (what `git fsck --strict` flags: duplicate or unsorted
	// entries, zero-padded modes, names such as .git or .., malformed
	// headers), so that readers could disagree on what it holds.
	MalformedObject Code = "MalformedObject"
	// LimitExceeded surfaces when a commit or tree in the range is over a
	// bound the verifier enforces (object size, parents, approval
	// trailers, tree entries or depth), or a bundle's sequence number jumps
	// further than allowed.
	LimitExceeded Code = "LimitExceeded"
)

// Error is a refusal with its reason code. Commit names the offending
// commit when there is one.
type Error struct {
	Code    Code
	Commit  string
	Message string
}

// Error implements error as "<Code>: <message>".
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds a refusal for commit with a formatted message.
func Errorf(code Code, commit, format string, args ...any) *Error {
	return &Error{Code: code, Commit: commit, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the reason code of err, or "" when err carries none.
func CodeOf(err error) Code {
	var re *Error
	if errors.As(err, &re) {
		return re.Code
	}
	var list List
	if errors.As(err, &list) && len(list) > 0 {
		return list[0].Code
	}
	return ""
}

// List is a set of refusals reported together: verification reports every
// problem of a range at once, not only the first.
type List []*Error

// Error joins the refusals one per line.
func (l List) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Refusals flattens err into its refusals; an error that carries no code
// yields nil.
func Refusals(err error) []*Error {
	var list List
	if errors.As(err, &list) {
		return list
	}
	var re *Error
	if errors.As(err, &re) {
		return []*Error{re}
	}
	return nil
}
