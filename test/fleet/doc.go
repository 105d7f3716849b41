// Package fleet builds the sample fleet of the end-to-end tests and the
// demo: throwaway keys made by the real gpg and ssh-keygen, a trust
// policy, the embedded example sites with signed commits, served over
// smart HTTP by the real git http-backend, and approvals made with
// `git commit -S`. A test reads as its scenario: New, Approve, Push.
package fleet
