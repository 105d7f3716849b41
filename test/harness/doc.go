// Package harness builds real fleet repositories for tests and benchmarks:
// keys made by the real gpg and ssh-keygen, commits made and signed by the
// real git CLI, and git servers over smart HTTP (the real git http-backend)
// and SSH.
//
// It wraps internal/sandbox, which builds the same things for the demo
// and returns errors: each helper here takes a TB, fails it on error and
// stops what it started at the test's end. What only tests need (revoked
// and expired keys, forged commits, an SSH server, long histories for
// benchmarks) lives here alone.
package harness
