// Package signature splits a signed git commit into the payload git signed
// and its signature, and verifies OpenPGP and SSH signatures in-process
// against the keys of a trust policy.
//
// It owns the signature formats (OpenPGP as made by gpg, SSH signatures in
// namespace "git") and the mapping of each failure onto a reason code.
// Check judges a signature at a given time (Options.At), so that history
// signed while a key was valid still verifies after the key expires; weak
// digests (SHA-1, MD5, RIPEMD-160) are refused. It
// decides nothing about roles or history: it answers "which principal's
// key made this signature over these bytes, if any".
package signature
