// Package sandbox builds a throwaway fleet on this machine with the tools
// an operator uses: signing keys made by the real gpg and ssh-keygen,
// working copies whose commits the real git CLI makes and signs, a smart
// HTTP server over the real git http-backend, and a trust policy naming
// the keys. Package samplefleet builds the sample fleet on it, and package
// cluster runs a cluster following it.
//
// `nodewright demo` runs its story on it, and the test builders under
// test/ wrap it. Every builder returns an error instead of failing a test,
// and what a builder starts (a gpg-agent, a server) has a Close that stops
// it; the caller owns the directories it passes in.
//
// The package owns nothing of the product: it only drives the same tools
// people use, so that what Nodewright verifies is exactly what they
// produce. Nothing outside the demo and tests may import it.
package sandbox
