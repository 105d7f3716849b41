// Package fleet is the sample fleet of the end-to-end tests
// (internal/sandbox builds it): throwaway keys made by the real gpg and
// ssh-keygen, a trust policy, the embedded example sites with signed
// commits, served over smart HTTP by the real git http-backend, and
// approvals made with `git commit -S`. Its helpers fail the test on error.
// A test reads as its scenario: New, Approve, Push.
package fleet
