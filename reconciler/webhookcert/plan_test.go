package webhookcert

import (
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// t0 is the simulations' start; any time does.
var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// testConfig is a plan config for the names the tests serve.
func testConfig(caLifetime, certLifetime time.Duration) *config {
	dns := []string{"nodewright-webhook.nodewright-system.svc"}
	ips := []net.IP{net.IPv4(127, 0, 0, 1)}
	wantDNS, wantIPs := sans(dns, ips)
	return &config{caLifetime: caLifetime, certLifetime: certLifetime, dnsNames: dns, ips: ips, wantDNS: wantDNS, wantIPs: wantIPs}
}

func never(*x509.Certificate) bool  { return false }
func always(*x509.Certificate) bool { return true }

// fresh plans a Secret from nothing at now.
func fresh(t *testing.T, c *config, now time.Time) *secretState {
	t.Helper()
	st, why, err := c.plan(parseSecret(nil), now, never)
	require.NoError(t, err)
	require.NotEmpty(t, why)
	return parseSecret(st.data())
}

// verifies reports whether bundle verifies the serving certificate at
// now for the config's names.
func verifies(c *config, bundle []byte, serving *x509.Certificate, now time.Time) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle)
	_, err := serving.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, DNSName: c.dnsNames[0]})
	if err != nil {
		return err
	}
	_, err = serving.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, DNSName: c.ips[0].String()})
	return err
}

func TestPlanFromNothing(t *testing.T) {
	c := testConfig(DefaultCALifetime, DefaultCertLifetime)
	st, why, err := c.plan(parseSecret(nil), t0, never)
	require.NoError(t, err)
	assert.Len(t, why, 2, "a CA and a serving certificate: %q", why)
	assert.Contains(t, why[0], "ca.crt and ca.key are missing: issued a new CA")
	assert.Contains(t, why[1], "tls.crt and tls.key are missing: issued a new serving certificate")
	assert.Nil(t, st.next)
	assert.Empty(t, st.previous)

	assert.Equal(t, t0.Add(DefaultCALifetime), st.ca.cert.NotAfter)
	assert.Equal(t, t0.Add(-time.Hour), st.ca.cert.NotBefore, "backdated by an hour")
	assert.Equal(t, t0.Add(DefaultCertLifetime), st.serving.cert.NotAfter)
	assert.Equal(t, []string{"nodewright-webhook.nodewright-system.svc"}, st.serving.cert.DNSNames)
	require.Len(t, st.serving.cert.IPAddresses, 1)
	assert.True(t, st.serving.cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)))
	require.NoError(t, verifies(c, st.bundle(), st.serving.cert, t0))

	again, why, err := c.plan(parseSecret(st.data()), t0, never)
	require.NoError(t, err)
	assert.Empty(t, why, "a current Secret is left as it is")
	assert.Equal(t, st.data(), again.data())
}

// TestPlanScheduleAtBoundaries pins when each renewal happens: the serving
// certificate at two thirds of its life, the next CA at two thirds of the
// CA's, the switch at five sixths once allowed, the old CA's removal at its
// expiry.
func TestPlanScheduleAtBoundaries(t *testing.T) {
	const caLife, certLife = 60 * time.Second, 12 * time.Second
	c := testConfig(caLife, certLife)
	st := fresh(t, c, t0)
	ca, serving := st.ca.cert, st.serving.cert
	require.Equal(t, t0.Add(-6*time.Second), ca.NotBefore, "backdated by a tenth")

	step := func(now time.Time, st *secretState, may func(*x509.Certificate) bool) (*secretState, []string) {
		t.Helper()
		out, why, err := c.plan(st, now, may)
		require.NoError(t, err)
		return parseSecret(out.data()), why
	}

	// Serving: period 13.2s (12s + 1.2s backdate, whole seconds: 14s), renewed at two thirds.
	at := renewAt(serving)
	_, why := step(at.Add(-time.Second), st, never)
	assert.Empty(t, why, "before two thirds of the serving certificate's life")
	st2, why := step(at, st, never)
	require.Len(t, why, 1)
	assert.Contains(t, why[0], "tls.crt is in the last third of its life")
	assert.True(t, st2.ca.cert.Equal(ca), "the CA stays")
	assert.NotEqual(t, serving.SerialNumber, st2.serving.cert.SerialNumber)

	// CA: next at two thirds of its life.
	at = renewAt(ca)
	st.serving = reissue(t, c, st, at.Add(-time.Second))
	_, why = step(at.Add(-time.Second), st, always)
	assert.Empty(t, why, "before two thirds of the CA's life")
	st, why = step(at, st, always)
	require.Len(t, why, 1, "%q", why)
	assert.Contains(t, why[0], "is in the last third of its life")
	require.NotNil(t, st.next)
	assert.True(t, st.ca.cert.Equal(ca), "the current CA still signs")
	assert.True(t, bundleHas(st.bundle(), st.next.cert), "the next CA is published")
	assert.True(t, bundleHas(st.bundle(), ca))

	// Switch at five sixths, only when allowed.
	at = promoteAt(ca)
	st.serving = reissue(t, c, st, at.Add(-time.Second))
	_, why = step(at.Add(-time.Second), st, always)
	assert.Empty(t, why, "before five sixths of the CA's life")
	_, why = step(at, st, never)
	assert.Empty(t, why, "the next CA has not been seen in the caBundle long enough")
	next := st.next.cert
	st, why = step(at, st, always)
	require.Len(t, why, 2, "%q", why)
	assert.Contains(t, why[0], "the next CA has been in every caBundle long enough")
	assert.Contains(t, why[1], "the signing CA changed: issued a new serving certificate")
	assert.True(t, st.ca.cert.Equal(next))
	assert.Nil(t, st.next)
	require.Len(t, st.previous, 1)
	assert.True(t, st.previous[0].Equal(ca), "the old CA stays trusted")
	require.NoError(t, st.serving.cert.CheckSignatureFrom(next))
	assert.Equal(t, encodeCerts(next, ca), st.bundle())

	// The old CA leaves the bundle when it expires.
	st.serving = reissue(t, c, st, ca.NotAfter.Add(-time.Second))
	_, why = step(ca.NotAfter.Add(-time.Second), st, never)
	assert.Empty(t, why)
	st, why = step(ca.NotAfter, st, never)
	require.Len(t, why, 1, "%q", why)
	assert.Contains(t, why[0], "expired at")
	assert.Empty(t, st.previous)
	assert.Equal(t, encodeCerts(next), st.bundle())
}

// reissue returns a serving certificate for st's CA issued at now.
func reissue(t *testing.T, c *config, st *secretState, now time.Time) *keyPair {
	t.Helper()
	s, err := newServing(st.ca, now, c.certLifetime, c.dnsNames, c.ips)
	require.NoError(t, err)
	return s
}

// TestPlanSimulatesYears runs the rotation at the default lifetimes for
// three years, one pass per CheckInterval-sized step, with the caBundle
// published after each pass (as Ensure does) and the gate as the Rotator
// keeps it. At every pass, and just before the next, the published bundle
// verifies the served certificate; a CA signs the served certificate only
// after it was in a bundle published at least one step earlier.
func TestPlanSimulatesYears(t *testing.T) {
	const interval = 24 * time.Hour
	c := testConfig(DefaultCALifetime, DefaultCertLifetime)
	var (
		st                                    = parseSecret(nil)
		published                             []byte // the caBundle stored, as the API server sees it
		seenNext                              []byte
		seenAt                                time.Time
		served                                *x509.Certificate // the files
		servingRenewals, caRenewals, switches int
	)
	end := t0.Add(3 * 365 * 24 * time.Hour)
	for now := t0; now.Before(end); now = now.Add(interval) {
		// The gate, as observe and mayPromote keep it.
		if st.next != nil && bundleHas(published, st.next.cert) {
			if string(seenNext) != string(st.next.cert.Raw) {
				seenNext, seenAt = st.next.cert.Raw, now
			}
		} else {
			seenNext = nil
		}
		gate := func(next *x509.Certificate) bool {
			return string(seenNext) == string(next.Raw) && now.Sub(seenAt) >= interval
		}
		out, why, err := c.plan(st, now, gate)
		require.NoError(t, err, "at %s", now)
		for _, w := range why {
			switch {
			case strings.Contains(w, "issued the next CA"):
				caRenewals++
			case strings.Contains(w, "signs from now on"):
				switches++
			case strings.Contains(w, "issued a new serving certificate"):
				servingRenewals++
			}
		}
		// Publish before serving: the new serving certificate's CA must
		// have been in the bundle the API servers hold before this pass,
		// except for the very first pass.
		if served != nil && !out.serving.cert.Equal(served) && !bundleHas(published, out.ca.cert) {
			t.Fatalf("at %s a serving certificate is served whose CA %q was not published before", now, out.ca.cert.Subject.CommonName)
		}
		st = parseSecret(out.data())
		published = st.bundle()
		served = st.serving.cert
		for _, at := range []time.Time{now, now.Add(interval - time.Second)} {
			require.NoError(t, verifies(c, published, served, at), "at %s (pass at %s): %q", at, now, why)
		}
	}
	// A serving certificate lasts two thirds of 90 days at most; a next CA
	// is issued two thirds into each CA's life, about every 8 months.
	t.Logf("in three years: %d serving certificates, %d next CAs, %d switches", servingRenewals, caRenewals, switches)
	assert.GreaterOrEqual(t, servingRenewals, 3*365/60)
	assert.Equal(t, 4, caRenewals, "next CAs issued in three years of one-year CAs")
	assert.Equal(t, 4, switches, "switches to the next CA in three years")
}

func TestPlanRepairs(t *testing.T) {
	c := testConfig(DefaultCALifetime, DefaultCertLifetime)
	good := fresh(t, c, t0).data()
	other := fresh(t, c, t0).data()
	otherNames := testConfig(DefaultCALifetime, DefaultCertLifetime)
	otherNames.dnsNames = []string{"other.example"}
	otherNames.wantDNS = otherNames.dnsNames
	misnamed, err := newServing(parseSecret(good).ca, t0, DefaultCertLifetime, otherNames.dnsNames, nil)
	require.NoError(t, err)

	tests := []struct {
		name   string
		modify func(d map[string][]byte)
		want   []string // in the reasons, in order
		newCA  bool
	}{
		{"serving certificate not PEM", func(d map[string][]byte) { d[corev1.TLSCertKey] = []byte("not a certificate") },
			[]string{"tls.crt/tls.key: tls: failed to find any PEM data in certificate input: issued a new serving certificate"}, false},
		{"serving key of another certificate", func(d map[string][]byte) { d[corev1.TLSPrivateKeyKey] = other[corev1.TLSPrivateKeyKey] },
			[]string{"tls.crt/tls.key: tls: private key does not match public key"}, false},
		{"serving certificate of another CA", func(d map[string][]byte) {
			d[corev1.TLSCertKey], d[corev1.TLSPrivateKeyKey] = other[corev1.TLSCertKey], other[corev1.TLSPrivateKeyKey]
		}, []string{"tls.crt is not signed by the current CA"}, false},
		{"serving certificate for other names", func(d map[string][]byte) {
			d[corev1.TLSCertKey], d[corev1.TLSPrivateKeyKey] = misnamed.certPEM, misnamed.keyPEM
		}, []string{"tls.crt names [other.example], want [nodewright-webhook.nodewright-system.svc 127.0.0.1]"}, false},
		{"CA key of another CA", func(d map[string][]byte) { d[CAKeyKey] = other[CAKeyKey] },
			[]string{"ca.crt/ca.key: tls: private key does not match public key: issued a new CA", "the signing CA changed"}, true},
		{"CA certificate is a serving certificate", func(d map[string][]byte) {
			d[CACertKey], d[CAKeyKey] = good[corev1.TLSCertKey], good[corev1.TLSPrivateKeyKey]
		}, []string{"ca.crt: not a CA certificate: issued a new CA", "the signing CA changed"}, true},
		{"CA key missing", func(d map[string][]byte) { delete(d, CAKeyKey) },
			[]string{"ca.crt/ca.key: tls: failed to find any PEM data in key input", "the signing CA changed"}, true},
		{"everything missing", func(d map[string][]byte) { clear(d) },
			[]string{"ca.crt and ca.key are missing", "tls.crt and tls.key are missing"}, true},
		{"previous CAs not PEM", func(d map[string][]byte) { d[PreviousCACertKey] = []byte("junk") },
			[]string{"ca-previous.crt: certificate 1 is not PEM: dropped the previous CAs"}, false},
		{"previous CA not a CA", func(d map[string][]byte) { d[PreviousCACertKey] = good[corev1.TLSCertKey] },
			[]string{"ca-previous.crt: certificate 1: not a CA certificate"}, false},
		{"next CA is the current CA", func(d map[string][]byte) { d[NextCACertKey], d[NextCAKeyKey] = good[CACertKey], good[CAKeyKey] },
			[]string{"the next CA is the current CA: dropped it"}, false},
		{"previous CA is the current CA, twice", func(d map[string][]byte) {
			d[PreviousCACertKey] = append(append([]byte{}, good[CACertKey]...), good[CACertKey]...)
		},
			[]string{"is listed twice: dropped the copy", "is the current or the next CA: dropped it from ca-previous.crt"}, false},
		{"previous CA is the next CA, and the current CA is broken", func(d map[string][]byte) {
			d[NextCACertKey], d[NextCAKeyKey], d[PreviousCACertKey] = other[CACertKey], other[CAKeyKey], other[CACertKey]
			d[CAKeyKey] = []byte("junk")
		}, []string{"ca.crt/ca.key: tls: failed to find any PEM data in key input: the next CA", "is the current or the next CA", "the signing CA changed"}, true},
		{"next CA without key", func(d map[string][]byte) { d[NextCACertKey] = other[CACertKey] },
			[]string{"ca-next.crt/ca-next.key: tls: failed to find any PEM data in key input: dropped the next CA"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := map[string][]byte{}
			for k, v := range good {
				d[k] = v
			}
			tt.modify(d)
			out, why, err := c.plan(parseSecret(d), t0, never)
			require.NoError(t, err)
			require.Len(t, why, len(tt.want), "%q", why)
			for i, w := range tt.want {
				assert.Contains(t, why[i], w)
			}
			repaired := parseSecret(out.data())
			_, again, err := c.plan(repaired, t0, never)
			require.NoError(t, err)
			assert.Empty(t, again, "repaired at once")
			require.NoError(t, verifies(c, repaired.bundle(), repaired.serving.cert, t0))
			oldCA := parseSecret(good).ca.cert
			assert.Equal(t, tt.newCA, !repaired.ca.cert.Equal(oldCA))
			if tt.newCA && d[CACertKey] != nil && string(d[CACertKey]) == string(good[CACertKey]) {
				assert.True(t, bundleHas(repaired.bundle(), oldCA), "the old CA certificate stays trusted until it expires")
			}
		})
	}
}

func TestPlanExpiredCA(t *testing.T) {
	c := testConfig(60*time.Second, 12*time.Second)
	st := fresh(t, c, t0)
	old := st.ca.cert

	// Nobody ran for a long time: the CA expired with no next CA.
	out, why, err := c.plan(st, old.NotAfter, never)
	require.NoError(t, err)
	require.Len(t, why, 2, "%q", why)
	assert.Contains(t, why[0], "expired at")
	assert.Contains(t, why[0], "issued a new CA")
	assert.False(t, out.ca.cert.Equal(old))
	assert.Empty(t, out.previous, "an expired CA is not kept")

	// With a next CA, it signs at once, without the gate.
	st, _, err = c.plan(st, renewAt(old), never)
	require.NoError(t, err)
	require.NotNil(t, st.next)
	next := st.next.cert
	out, why, err = c.plan(parseSecret(st.data()), old.NotAfter, never)
	require.NoError(t, err)
	require.NotEmpty(t, why)
	assert.Contains(t, why[0], "signs from now on")
	assert.True(t, out.ca.cert.Equal(next))
}

// TestPlanServingNeverOutlivesCA: a serving certificate issued near the
// CA's end expires with it.
func TestPlanServingNeverOutlivesCA(t *testing.T) {
	c := testConfig(60*time.Second, 12*time.Second)
	st := fresh(t, c, t0)
	now := st.ca.cert.NotAfter.Add(-5 * time.Second)
	st.serving = nil
	st.servingErr = assert.AnError
	out, _, err := c.plan(st, now, never)
	require.NoError(t, err)
	assert.Equal(t, st.ca.cert.NotAfter, out.serving.cert.NotAfter)
}

func TestCheckIntervalDefault(t *testing.T) {
	o := Options{CertLifetime: 3 * time.Second, CALifetime: 6 * time.Second}
	_ = o.validate() // only the defaults matter here
	assert.Equal(t, 500*time.Millisecond, o.CheckInterval, "capped at CertLifetime/6")
	o = Options{}
	_ = o.validate()
	assert.Equal(t, DefaultCheckInterval, o.CheckInterval)
	assert.Equal(t, DefaultCertLifetime, o.CertLifetime)
	assert.Equal(t, DefaultCALifetime, o.CALifetime)
}
