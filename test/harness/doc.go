// Package harness builds real fleet repositories for tests, benchmarks and
// the demo: keys made by the real gpg and ssh-keygen, commits made and signed
// by the real git CLI, and a smart HTTP git server (the real git http-backend
// behind net/http/cgi on loopback).
//
// It owns nothing of the product: it only drives the same tools an operator
// runs, so that what Nodewright verifies is exactly what users produce.
// Helpers take a TB and fail it on error; the demo passes its own TB.
package harness
