package harness

import "github.com/nodewright/nodewright/internal/sandbox"

// Policy builds a TrustPolicy document (.nodewright/trust.yaml) from keys,
// so that tests read as their scenario.
type Policy = sandbox.Policy

// Principal is one named person or system with its keys.
type Principal = sandbox.Principal

// Key is one public key of a principal.
type Key = sandbox.Key

// Role lists principals and the threshold of a role.
type Role = sandbox.Role

// OperationRule names the role and threshold an operation kind needs.
type OperationRule = sandbox.OperationRule

// Person is a shorthand for a principal holding the given keys.
func Person(name string, keys ...Signer) Principal { return sandbox.Person(name, keys...) }
