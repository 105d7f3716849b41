package webhookcert

import (
	"crypto/x509"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// FuzzParseSecret feeds arbitrary Secret contents to the parser and the
// planner. Neither may panic; what the parser accepts as a CA is one; and
// whatever came in, one plan yields a Secret that parses whole, whose
// caBundle verifies its serving certificate, and that a second plan leaves
// as it is.
func FuzzParseSecret(f *testing.F) {
	c := testConfig(DefaultCALifetime, DefaultCertLifetime)
	now := t0
	st, _, err := c.plan(parseSecret(nil), now, never)
	if err != nil {
		f.Fatal(err)
	}
	rotating, _, err := c.plan(parseSecret(st.data()), renewAt(st.ca.cert), never)
	if err != nil {
		f.Fatal(err)
	}
	for _, d := range []map[string][]byte{st.data(), rotating.data()} {
		f.Add(d[CACertKey], d[CAKeyKey], d[NextCACertKey], d[NextCAKeyKey], d[PreviousCACertKey], d[corev1.TLSCertKey], d[corev1.TLSPrivateKeyKey])
	}
	good := st.data()
	f.Add(good[CACertKey], good[CAKeyKey], good[CACertKey], good[CAKeyKey], good[corev1.TLSCertKey], good[corev1.TLSPrivateKeyKey], good[corev1.TLSPrivateKeyKey])
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), []byte{}, []byte{}, []byte{}, []byte("\n\n"), []byte("junk"), []byte{0})

	f.Fuzz(func(t *testing.T, caCrt, caKey, nextCrt, nextKey, previous, tlsCrt, tlsKey []byte) {
		in := parseSecret(map[string][]byte{
			CACertKey: caCrt, CAKeyKey: caKey, NextCACertKey: nextCrt, NextCAKeyKey: nextKey,
			PreviousCACertKey: previous, corev1.TLSCertKey: tlsCrt, corev1.TLSPrivateKeyKey: tlsKey,
		})
		for _, p := range []*keyPair{in.ca, in.next} {
			if p != nil && checkCA(p.cert) != nil {
				t.Fatalf("accepted a CA that is not one: %v", checkCA(p.cert))
			}
		}
		if (in.ca == nil) == (in.caErr == nil) || (in.serving == nil) == (in.servingErr == nil) {
			t.Fatalf("a part is neither usable nor refused: ca %v/%v, serving %v/%v", in.ca != nil, in.caErr, in.serving != nil, in.servingErr)
		}
		out, _, err := c.plan(in, now, never)
		if err != nil {
			t.Fatal(err)
		}
		again := parseSecret(out.data())
		if again.caErr != nil || again.servingErr != nil || again.nextErr != nil || again.previousErr != nil {
			t.Fatalf("the planned Secret does not parse: %v %v %v %v", again.caErr, again.servingErr, again.nextErr, again.previousErr)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(again.bundle())
		if _, err := again.serving.cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now.Add(time.Second), DNSName: c.dnsNames[0]}); err != nil {
			t.Fatalf("the caBundle does not verify the serving certificate: %v", err)
		}
		if _, why, err := c.plan(again, now, never); err != nil || len(why) > 0 {
			t.Fatalf("a second plan changes the Secret: %q %v", why, err)
		}
	})
}
