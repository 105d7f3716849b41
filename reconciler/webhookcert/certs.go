package webhookcert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Keys of the Secret's data besides tls.crt and tls.key
// (corev1.TLSCertKey and corev1.TLSPrivateKeyKey).
const (
	// CACertKey holds the current CA's certificate.
	CACertKey = "ca.crt"
	// CAKeyKey holds the current CA's private key.
	CAKeyKey = "ca.key"
	// NextCACertKey holds the next CA's certificate during a CA rotation.
	NextCACertKey = "ca-next.crt"
	// NextCAKeyKey holds the next CA's private key during a CA rotation.
	NextCAKeyKey = "ca-next.key"
	// PreviousCACertKey holds the certificates of the CAs replaced by a
	// rotation or a repair until they expire.
	PreviousCACertKey = "ca-previous.crt"
)

// maxPrevious bounds the CAs kept in ca-previous.crt: one per rotation is
// the norm, a few repairs in a row may add more, and the oldest go first.
const maxPrevious = 3

// keyPair is a certificate with its private key, and the PEM they were
// read from or written as.
type keyPair struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	keyPEM  []byte
}

// secretState is what a Secret holds, part by part. A part that is absent
// or unusable is nil, with the reason in its error (nil when it is simply
// absent and may be).
type secretState struct {
	ca, next, serving *keyPair
	previous          []*x509.Certificate

	// caCert is ca.crt when it parses as a CA certificate, also when ca.key
	// is unusable: a repair keeps it trusted as a previous CA.
	caCert *x509.Certificate

	caErr, nextErr, previousErr, servingErr error
}

// parseSecret reads a Secret's data. It never fails as a whole: each part
// is checked on its own, so a repair keeps what is usable.
func parseSecret(data map[string][]byte) *secretState {
	st := &secretState{}
	if len(data[CACertKey]) == 0 && len(data[CAKeyKey]) == 0 {
		st.caErr = errors.New(CACertKey + " and " + CAKeyKey + " are missing")
	} else {
		st.ca, st.caErr = parseCA(data[CACertKey], data[CAKeyKey], CACertKey, CAKeyKey)
		if st.ca != nil {
			st.caCert = st.ca.cert
		} else if c, err := parseCACert(data[CACertKey], CACertKey); err == nil {
			st.caCert = c
		}
	}
	if len(data[NextCACertKey]) > 0 || len(data[NextCAKeyKey]) > 0 {
		st.next, st.nextErr = parseCA(data[NextCACertKey], data[NextCAKeyKey], NextCACertKey, NextCAKeyKey)
	}
	if len(data[PreviousCACertKey]) > 0 {
		st.previous, st.previousErr = parseCABundle(data[PreviousCACertKey], PreviousCACertKey)
	}
	if len(data[corev1.TLSCertKey]) == 0 && len(data[corev1.TLSPrivateKeyKey]) == 0 {
		st.servingErr = errors.New(corev1.TLSCertKey + " and " + corev1.TLSPrivateKeyKey + " are missing")
	} else {
		st.serving, st.servingErr = parsePair(data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey], corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	return st
}

// data returns the Secret's data for st; every part of st must be usable.
func (st *secretState) data() map[string][]byte {
	d := map[string][]byte{
		CACertKey:               st.ca.certPEM,
		CAKeyKey:                st.ca.keyPEM,
		corev1.TLSCertKey:       st.serving.certPEM,
		corev1.TLSPrivateKeyKey: st.serving.keyPEM,
	}
	if st.next != nil {
		d[NextCACertKey] = st.next.certPEM
		d[NextCAKeyKey] = st.next.keyPEM
	}
	if len(st.previous) > 0 {
		d[PreviousCACertKey] = encodeCerts(st.previous...)
	}
	return d
}

// bundle returns the caBundle for st: the current CA, then the next one,
// then the previous ones.
func (st *secretState) bundle() []byte {
	certs := []*x509.Certificate{st.ca.cert}
	if st.next != nil {
		certs = append(certs, st.next.cert)
	}
	return encodeCerts(append(certs, st.previous...)...)
}

// parsePair parses a certificate and its private key and checks that they
// match; certName and keyName name them in errors.
func parsePair(certPEM, keyPEM []byte, certName, keyName string) (*keyPair, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", certName, keyName, err)
	}
	leaf := c.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%s: %w", certName, err)
		}
	}
	key, ok := c.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: a %T cannot sign", keyName, c.PrivateKey)
	}
	return &keyPair{cert: leaf, key: key, certPEM: certPEM, keyPEM: keyPEM}, nil
}

// parseCA parses a CA certificate and its key.
func parseCA(certPEM, keyPEM []byte, certName, keyName string) (*keyPair, error) {
	p, err := parsePair(certPEM, keyPEM, certName, keyName)
	if err != nil {
		return nil, err
	}
	if err := checkCA(p.cert); err != nil {
		return nil, fmt.Errorf("%s: %w", certName, err)
	}
	return p, nil
}

// parseCACert parses one PEM CA certificate, with nothing but whitespace
// around it; name names it in errors.
func parseCACert(data []byte, name string) (*x509.Certificate, error) {
	certs, err := parseCABundle(data, name)
	if err != nil {
		return nil, err
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("%s holds %d certificates, want 1", name, len(certs))
	}
	return certs[0], nil
}

// parseCABundle parses PEM CA certificates, with nothing but whitespace
// between and around them; name names them in errors.
func parseCABundle(data []byte, name string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		rest = bytes.TrimSpace(rest)
		if len(rest) == 0 {
			break
		}
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%s: certificate %d is not PEM", name, len(certs)+1)
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s: block %d is a %q, want a CERTIFICATE", name, len(certs)+1, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", name, len(certs)+1, err)
		}
		if err := checkCA(c); err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", name, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s holds no certificate", name)
	}
	return certs, nil
}

// checkCA checks that c is a self-signed CA that may sign certificates.
func checkCA(c *x509.Certificate) error {
	if !c.BasicConstraintsValid || !c.IsCA {
		return errors.New("not a CA certificate")
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return errors.New("a CA certificate without the certificate-signing key usage")
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		return fmt.Errorf("not self-signed: %w", err)
	}
	return nil
}

// encodeCerts returns the certificates as PEM, one after another.
func encodeCerts(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		// Encoding into a bytes.Buffer does not fail.
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// bundleHas reports whether the PEM bundle holds the certificate c.
func bundleHas(bundle []byte, c *x509.Certificate) bool {
	for {
		var block *pem.Block
		block, bundle = pem.Decode(bundle)
		if block == nil {
			return false
		}
		if block.Type == "CERTIFICATE" && bytes.Equal(block.Bytes, c.Raw) {
			return true
		}
	}
}

// backdate is how far before its issue a certificate of the given lifetime
// starts to be valid: a tenth of the lifetime, at most an hour, for API
// servers whose clocks are a little behind.
func backdate(lifetime time.Duration) time.Duration {
	return min(lifetime/10, time.Hour)
}

// validity returns the NotBefore and NotAfter of a certificate issued at
// now for lifetime, NotAfter capped at limit when limit is set. Both are
// whole seconds, as a certificate holds them.
func validity(now time.Time, lifetime time.Duration, limit time.Time) (notBefore, notAfter time.Time) {
	notBefore = now.Add(-backdate(lifetime)).Truncate(time.Second).UTC()
	notAfter = now.Add(lifetime).Truncate(time.Second).UTC()
	if !limit.IsZero() && notAfter.After(limit) {
		notAfter = limit
	}
	return notBefore, notAfter
}

// renewAt is when two thirds of c's life have passed.
func renewAt(c *x509.Certificate) time.Time {
	return c.NotAfter.Add(-c.NotAfter.Sub(c.NotBefore) / 3)
}

// promoteAt is when five sixths of c's life have passed.
func promoteAt(c *x509.Certificate) time.Time {
	return c.NotAfter.Add(-c.NotAfter.Sub(c.NotBefore) / 6)
}

// newCA issues a self-signed CA at now.
func newCA(now time.Time, lifetime time.Duration) (*keyPair, error) {
	notBefore, notAfter := validity(now, lifetime, time.Time{})
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "nodewright webhook CA " + now.UTC().Format(time.RFC3339)},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	return issue(tmpl, nil)
}

// newServing issues a serving certificate for the names, signed by ca, at
// now; it expires with ca at the latest.
func newServing(ca *keyPair, now time.Time, lifetime time.Duration, dnsNames []string, ips []net.IP) (*keyPair, error) {
	notBefore, notAfter := validity(now, lifetime, ca.cert.NotAfter)
	cn := ""
	switch {
	case len(dnsNames) > 0:
		cn = dnsNames[0]
	case len(ips) > 0:
		cn = ips[0].String()
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              dnsNames,
		IPAddresses:           ips,
	}
	return issue(tmpl, ca)
}

// issue creates a P-256 key and a certificate for it from tmpl, signed by
// parent (nil: self-signed).
func issue(tmpl *x509.Certificate, parent *keyPair) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating a P-256 key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generating a serial number: %w", err)
	}
	tmpl.SerialNumber = serial.Add(serial, big.NewInt(1))
	issuerCert, issuerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		issuerCert, issuerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuerCert, key.Public(), issuerKey)
	if err != nil {
		return nil, fmt.Errorf("signing the certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("reading back the certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the P-256 key: %w", err)
	}
	return &keyPair{
		cert:    cert,
		key:     key,
		certPEM: encodeCerts(cert),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}
