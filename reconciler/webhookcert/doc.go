// Package webhookcert keeps the serving certificate of the reconciler's
// validating admission webhook when cert-manager is not installed: a CA of
// the reconciler's own, a serving pair signed by it, both renewed before
// they expire, and the caBundle of the webhook configuration that tells the
// API server to trust them.
//
// A Rotator owns three things and touches nothing else: one Secret (the CA
// and the serving pair, shared by every replica), the caBundle of every
// webhook in one ValidatingWebhookConfiguration (no other field of it), and
// the files tls.crt and tls.key in one directory, which controller-runtime's
// webhook server reloads when they change. It serves nothing itself.
//
// # The Secret
//
// The Secret has type kubernetes.io/tls and holds:
//
//   - tls.crt and tls.key: the serving certificate and its key, signed by
//     the current CA, naming exactly Options.DNSNames and
//     Options.IPAddresses;
//   - ca.crt and ca.key: the current CA, which signs the serving
//     certificates;
//   - ca-next.crt and ca-next.key: during a CA rotation, the CA that signs
//     next, already published in the caBundle;
//   - ca-previous.crt: after a CA rotation, the CA (or CAs) that signed
//     certificates which may still be served; certificates only, no keys.
//
// Keys are ECDSA P-256 in PKCS #8; certificates are X.509 in PEM. Every
// replica reads the Secret by name through an uncached reader and writes it
// with optimistic concurrency: a replica that loses a race (AlreadyExists on
// create, Conflict on update) reads the winner's Secret and uses it, so the
// replicas converge on one pair. A Secret that exists but does not hold a
// usable CA or serving pair (bad PEM, a key that does not match its
// certificate, a CA certificate that is not a CA, a serving certificate
// not signed by the CA or naming other hosts) is repaired by issuing anew,
// with a log line saying what was wrong; a CA certificate that still parses
// is kept in ca-previous.crt, so replicas still serving a certificate it
// signed keep working until they load the new one. A Secret of another
// type is an error: a Secret's type cannot change, and a Secret of that
// name that is not this package's is not deleted on a guess.
//
// # Rotation
//
// Lifetimes default to one year for the CA and 90 days for the serving
// certificate. The CA is short enough that its rotation runs in every
// cluster's life, rather than first after a decade, and long enough that
// it runs rarely. Certificates are backdated by a tenth of their lifetime
// (at most an hour), so an API server whose clock is a little behind
// accepts a certificate issued a moment ago. "Its life" below is the
// validity period as written in the certificate, from NotBefore to
// NotAfter.
//
//   - The serving certificate is renewed when two thirds of its life have
//     passed, when the signing CA changes, and when it is missing or
//     unusable. It never outlives the CA that signed it.
//   - When two thirds of the current CA's life have passed, the next CA is
//     issued and published in the caBundle beside the current one; the
//     current CA still signs.
//   - When five sixths of the current CA's life have passed, the next CA
//     becomes current and signs a new serving certificate, but only once
//     this Rotator has seen the next CA in every webhook's caBundle at
//     least one CheckInterval ago (time for every API server to load the
//     bundle). The old CA moves to ca-previous.crt and stays in the bundle
//     until it expires: no certificate it signed outlives it.
//   - A CA that is missing, unusable, expired or not yet valid is replaced
//     at once (by the next CA when there is one and it is valid, else by a
//     new one): the webhook was broken already, so no overlap is waited for.
//
// So the caBundle is the current CA, plus the next CA during the last third
// of the current one's life, plus the previous CA in the sixth after a
// rotation. As each next CA is issued two thirds into the life of the one
// before it, a new CA starts to sign every two thirds of CALifetime (eight
// months by default; the first after five sixths, ten months), and a
// serving certificate is renewed every two thirds of CertLifetime (60
// days), or sooner when a CA switch or its CA's end comes first. Within
// one pass, Ensure writes the Secret, then the caBundle, then the files:
// the files are never replaced by a pair whose CA the stored caBundle lacks
// (unless the webhook configuration does not exist, when nobody calls the
// webhook).
//
// # Wiring
//
// Ensure must have succeeded (at least written the files) before the
// webhook server starts: the server reads the files when it starts. Start
// then runs every CheckInterval on every replica (NeedLeaderElection is
// false); Ready is a readyz check. The reconciler's ServiceAccount needs
// get, create and update on the Secret and get and update on the
// ValidatingWebhookConfiguration.
package webhookcert
