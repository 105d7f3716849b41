package webhookcert

import (
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// config is what plan needs of the Options.
type config struct {
	caLifetime, certLifetime time.Duration
	// dnsNames and ips are issued as given; wantDNS and wantIPs are the
	// sorted forms a serving certificate's names are compared with.
	dnsNames         []string
	ips              []net.IP
	wantDNS, wantIPs []string
}

// plan returns the state the Secret should hold at now, and why that
// differs from st: one sentence per change, none when st is current (then
// the parts of the result are st's). mayPromote reports whether the next CA
// may start to sign, which the caller decides from what it saw of the
// caBundle; it is asked only when the rotation schedule is due.
//
// The steps, in order: drop what is unusable, expired or listed twice;
// replace a missing, unusable, expired or not yet valid CA at once (by the
// next CA when there is one and it is valid); in the last sixth of the
// CA's life, let the next CA sign once mayPromote agrees; in the last
// third, issue the next CA; and issue a serving certificate when the CA
// changed or the one held is unusable, names other hosts, or is in the
// last third of its life.
func (c *config) plan(st *secretState, now time.Time, mayPromote func(next *x509.Certificate) bool) (*secretState, []string, error) {
	out := &secretState{ca: st.ca, next: st.next, serving: st.serving}
	var why []string
	note := func(format string, args ...any) { why = append(why, fmt.Sprintf(format, args...)) }

	if st.nextErr != nil {
		note("%v: dropped the next CA", st.nextErr)
	}
	if out.next != nil && !now.Before(out.next.cert.NotAfter) {
		note("the next CA %q expired at %s: dropped it", out.next.cert.Subject.CommonName, stamp(out.next.cert.NotAfter))
		out.next = nil
	}
	if out.next != nil && out.ca != nil && out.next.cert.Equal(out.ca.cert) {
		note("the next CA is the current CA: dropped it")
		out.next = nil
	}
	if st.previousErr != nil {
		note("%v: dropped the previous CAs", st.previousErr)
	}
	for _, p := range st.previous {
		switch {
		case !now.Before(p.NotAfter):
			note("the previous CA %q expired at %s: dropped it from the caBundle", p.Subject.CommonName, stamp(p.NotAfter))
		case slices.ContainsFunc(out.previous, p.Equal):
			note("the previous CA %q is listed twice: dropped the copy", p.Subject.CommonName)
		default:
			out.previous = append(out.previous, p)
		}
	}
	// retire keeps a replaced CA in the caBundle until it expires, newest
	// first: a replica may still serve a certificate it signed.
	retire := func(old *x509.Certificate) {
		if old == nil || !now.Before(old.NotAfter) || slices.ContainsFunc(out.previous, old.Equal) {
			return
		}
		out.previous = append([]*x509.Certificate{old}, out.previous...)
		if len(out.previous) > maxPrevious {
			out.previous = out.previous[:maxPrevious]
		}
	}

	caChanged := false
	switch {
	case out.ca == nil || !valid(out.ca.cert, now):
		problem := fmt.Sprint(st.caErr)
		if out.ca != nil {
			problem = "the CA " + validityProblem(out.ca.cert, now)
		}
		retire(st.caCert)
		if out.next != nil && valid(out.next.cert, now) {
			note("%s: the next CA %q (valid until %s) signs from now on", problem, out.next.cert.Subject.CommonName, stamp(out.next.cert.NotAfter))
			out.ca, out.next = out.next, nil
		} else {
			ca, err := newCA(now, c.caLifetime)
			if err != nil {
				return nil, nil, fmt.Errorf("issuing a CA: %w", err)
			}
			note("%s: issued a new CA %q, valid until %s", problem, ca.cert.Subject.CommonName, stamp(ca.cert.NotAfter))
			out.ca = ca
		}
		caChanged = true
	case out.next != nil && !now.Before(promoteAt(out.ca.cert)) && valid(out.next.cert, now) && mayPromote(out.next.cert):
		note("the CA %q is in the last sixth of its life (valid until %s) and the next CA has been in every caBundle long enough: the next CA %q (valid until %s) signs from now on",
			out.ca.cert.Subject.CommonName, stamp(out.ca.cert.NotAfter), out.next.cert.Subject.CommonName, stamp(out.next.cert.NotAfter))
		retire(out.ca.cert)
		out.ca, out.next = out.next, nil
		caChanged = true
	}
	if out.next == nil && !now.Before(renewAt(out.ca.cert)) {
		next, err := newCA(now, c.caLifetime)
		if err != nil {
			return nil, nil, fmt.Errorf("issuing the next CA: %w", err)
		}
		note("the CA %q is in the last third of its life (valid until %s): issued the next CA %q, valid until %s, for the caBundle; the current CA still signs",
			out.ca.cert.Subject.CommonName, stamp(out.ca.cert.NotAfter), next.cert.Subject.CommonName, stamp(next.cert.NotAfter))
		out.next = next
	}

	// A previous CA that is (again) the current or the next one is listed
	// as such.
	out.previous = slices.DeleteFunc(out.previous, func(p *x509.Certificate) bool {
		if p.Equal(out.ca.cert) || (out.next != nil && p.Equal(out.next.cert)) {
			note("the previous CA %q is the current or the next CA: dropped it from %s", p.Subject.CommonName, PreviousCACertKey)
			return true
		}
		return false
	})

	if problem := c.servingProblem(st, out, now, caChanged); problem != "" {
		s, err := newServing(out.ca, now, c.certLifetime, c.dnsNames, c.ips)
		if err != nil {
			return nil, nil, fmt.Errorf("issuing a serving certificate: %w", err)
		}
		note("%s: issued a new serving certificate, valid until %s", problem, stamp(s.cert.NotAfter))
		out.serving = s
	}
	return out, why, nil
}

// servingProblem says why the serving certificate of st must be issued
// anew under the CA of out, or returns "" when it may stay.
func (c *config) servingProblem(st, out *secretState, now time.Time, caChanged bool) string {
	s := out.serving
	if s == nil {
		return fmt.Sprint(st.servingErr)
	}
	if caChanged {
		return "the signing CA changed"
	}
	if err := s.cert.CheckSignatureFrom(out.ca.cert); err != nil {
		return fmt.Sprintf("%s is not signed by the current CA %q (%v)", corev1.TLSCertKey, out.ca.cert.Subject.CommonName, err)
	}
	dns, ips := sans(s.cert.DNSNames, s.cert.IPAddresses)
	if !slices.Equal(dns, c.wantDNS) || !slices.Equal(ips, c.wantIPs) {
		return fmt.Sprintf("%s names %s, want %s", corev1.TLSCertKey, names(dns, ips), names(c.wantDNS, c.wantIPs))
	}
	if !forServers(s.cert) {
		return corev1.TLSCertKey + " is not for TLS servers (its extended key usages lack serverAuth)"
	}
	if s.cert.NotAfter.After(out.ca.cert.NotAfter) {
		return fmt.Sprintf("%s (valid until %s) outlives its CA (valid until %s)", corev1.TLSCertKey, stamp(s.cert.NotAfter), stamp(out.ca.cert.NotAfter))
	}
	if !valid(s.cert, now) {
		return corev1.TLSCertKey + " " + validityProblem(s.cert, now)
	}
	if !now.Before(renewAt(s.cert)) {
		return fmt.Sprintf("%s is in the last third of its life (valid until %s)", corev1.TLSCertKey, stamp(s.cert.NotAfter))
	}
	return ""
}

// valid reports whether now is within c's validity period.
func valid(c *x509.Certificate, now time.Time) bool {
	return !now.Before(c.NotBefore) && now.Before(c.NotAfter)
}

// validityProblem says how now is outside c's validity period, after the
// certificate's name.
func validityProblem(c *x509.Certificate, now time.Time) string {
	if now.Before(c.NotBefore) {
		return fmt.Sprintf("%q is not valid before %s (is a clock wrong?)", c.Subject.CommonName, stamp(c.NotBefore))
	}
	return fmt.Sprintf("%q expired at %s", c.Subject.CommonName, stamp(c.NotAfter))
}

// forServers reports whether c may serve TLS: no extended key usage (any
// use) or one of serverAuth and any.
func forServers(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return true
	}
	return slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny)
}

// names renders subject alternative names for a log line.
func names(dns, ips []string) string {
	all := append(slices.Clone(dns), ips...)
	if len(all) == 0 {
		return "no names"
	}
	return "[" + strings.Join(all, " ") + "]"
}

// stamp renders a time for a log line.
func stamp(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}
