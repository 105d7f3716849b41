// Package samplefleet is the sample fleet of the demo and the end-to-end
// tests, built in a sandbox: the embedded example sites, a trust policy
// over three people's throwaway keys (alice commits with OpenPGP, bob with
// SSH, carol approves), signed commits, and the repository served over
// smart HTTP by the real git http-backend.
package samplefleet
