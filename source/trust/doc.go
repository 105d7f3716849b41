// Package trust parses and validates TrustPolicy documents
// (.nodewright/trust.yaml and the cluster's trust root) and turns them into
// a Keyring that maps a signing key to the principal who holds it.
//
// It owns the policy format, its strict decoding and its validation rules,
// with errors that name the file, line and field. It verifies no signature
// and reads no git object: the verifier asks it who holds a key and which
// roles that principal has.
package trust
