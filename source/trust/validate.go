package trust

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"golang.org/x/crypto/ssh"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

var principalName = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$`)

// validator checks a policy's meaning, on the shared Validator.
type validator struct{ Validator }

func p(segs ...any) []any { return segs }

func (v *validator) validate(pol *Policy) {
	if pol.APIVersion != APIVersion {
		v.Add(p("apiVersion"), "%q is not supported; use %q", pol.APIVersion, APIVersion)
	}
	if pol.Kind != Kind {
		v.Add(p("kind"), "%q is not %q", pol.Kind, Kind)
	}
	if pol.Version < 1 {
		v.Add(p("version"), "must be a whole number of at least 1, got %d", pol.Version)
	}
	switch pol.History {
	case "", HistoryAll, HistoryFirstParent:
	default:
		v.Add(p("history"), "%q is not a history mode; one of all, first-parent", pol.History)
	}
	if pol.Since != "" && !isCommitID(pol.Since) {
		v.Add(p("since"), "%q is not a full 40-hex commit id", pol.Since)
	}
	if pol.Freshness != nil {
		d, err := time.ParseDuration(pol.Freshness.MaxAge)
		switch {
		case err != nil:
			v.Add(p("freshness", "maxAge"), "%q is not a duration such as 72h", pol.Freshness.MaxAge)
		case d <= 0:
			v.Add(p("freshness", "maxAge"), "must be positive, got %s", pol.Freshness.MaxAge)
		default:
			pol.Freshness.maxAge = d
		}
	}
	pol.keyring = v.principals(pol)
	v.roles(pol)
	v.operations(pol)
}

func isCommitID(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

func (v *validator) principals(pol *Policy) *Keyring {
	kr := newKeyring()
	if len(pol.Principals) == 0 {
		v.Add(p("principals"), "at least one principal is required")
	}
	seen := map[string]int{}
	for i, pr := range pol.Principals {
		if !principalName.MatchString(pr.Name) {
			v.Add(p("principals", i, "name"), "%q is not a principal name (lower-case letters, digits, '.', '_', '-')", pr.Name)
		}
		if j, dup := seen[pr.Name]; dup {
			v.Add(p("principals", i, "name"), "principal %q is already defined at principals[%d]", pr.Name, j)
			continue
		}
		seen[pr.Name] = i
		if len(pr.Keys) == 0 {
			v.Add(p("principals", i, "keys"), "principal %q has no keys", pr.Name)
		}
		for j, k := range pr.Keys {
			v.key(kr, pr.Name, k, p("principals", i, "keys", j))
		}
	}
	return kr
}

func (v *validator) key(kr *Keyring, principal string, k Key, path []any) {
	holder := Holder{Principal: principal, Revoked: k.Revoked}
	switch {
	case k.OpenPGP != "" && k.SSH != "":
		v.Add(path, "a key is either openpgp or ssh, not both")
	case k.OpenPGP != "":
		ents, err := openpgp.ReadArmoredKeyRing(strings.NewReader(k.OpenPGP))
		if err != nil {
			v.Add(append(path, "openpgp"), "not an ASCII-armored OpenPGP public key: %v", err)
			return
		}
		if len(ents) != 1 {
			v.Add(append(path, "openpgp"), "holds %d keys; list each as its own entry", len(ents))
			return
		}
		e := ents[0]
		if e.PrivateKey != nil {
			v.Add(append(path, "openpgp"), "contains private key material; publish only the public key")
			return
		}
		fpr := Fingerprint(e)
		if other, dup := kr.pgpHolders[fpr]; dup {
			v.Add(append(path, "openpgp"), "key %s is already held by principal %q", fpr, other.Principal)
			return
		}
		holder.ID = fpr
		kr.pgp = append(kr.pgp, e)
		kr.pgpHolders[fpr] = holder
	case k.SSH != "":
		line, err := parseSSHKeyLine(k.SSH)
		if err != nil {
			v.Add(append(path, "ssh"), "%s", err)
			return
		}
		fpr := ssh.FingerprintSHA256(line.key)
		if other, dup := kr.ssh[fpr]; dup {
			v.Add(append(path, "ssh"), "key %s is already held by principal %q", fpr, other.Principal)
			return
		}
		holder.ID = fpr
		holder.Namespaces = line.namespaces
		holder.ValidAfter, holder.ValidBefore = line.validAfter, line.validBefore
		kr.ssh[fpr] = holder
	default:
		v.Add(path, "a key needs openpgp or ssh")
	}
}

func (v *validator) roles(pol *Policy) {
	known := map[string]bool{}
	for _, pr := range pol.Principals {
		known[pr.Name] = true
	}
	for _, required := range []string{RoleCommitters, RoleTrustAdmins} {
		if _, ok := pol.Roles[required]; !ok {
			v.Add(p("roles"), "role %q is required", required)
		}
	}
	for _, name := range pol.RoleNames() {
		r := pol.Roles[name]
		if len(r.Principals) == 0 {
			v.Add(p("roles", name, "principals"), "role %q lists no principals", name)
		}
		seen := map[string]bool{}
		for i, n := range r.Principals {
			if !known[n] {
				v.Add(p("roles", name, "principals", i), "%q is not a principal of this policy", n)
			}
			if seen[n] {
				v.Add(p("roles", name, "principals", i), "%q is listed twice", n)
			}
			seen[n] = true
		}
		switch {
		case r.Threshold < 1:
			v.Add(p("roles", name, "threshold"), "must be at least 1, got %d", r.Threshold)
		case r.Threshold > len(r.Principals):
			v.Add(p("roles", name, "threshold"), "%d is more than the %d principals of role %q", r.Threshold, len(r.Principals), name)
		case name == RoleCommitters && r.Threshold != 1:
			v.Add(p("roles", name, "threshold"), "must be 1: each commit carries one signature, from one committer")
		}
	}
}

func (v *validator) operations(pol *Policy) {
	kinds := make([]string, 0, len(pol.Operations))
	for k := range pol.Operations {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, kind := range kinds {
		rule := pol.Operations[kind]
		if !slices.Contains(v1.OperationKinds, kind) {
			v.Add(p("operations", kind), "%q is not an operation kind; one of %s", kind, strings.Join(v1.OperationKinds, ", "))
			continue
		}
		role, ok := pol.Roles[rule.Role]
		if !ok {
			v.Add(p("operations", kind, "role"), "role %q is not defined under roles", rule.Role)
			continue
		}
		switch {
		case rule.Threshold < 1:
			v.Add(p("operations", kind, "threshold"), "must be at least 1, got %d", rule.Threshold)
		case rule.Threshold > len(role.Principals):
			v.Add(p("operations", kind, "threshold"), "%d is more than the %d principals of role %q", rule.Threshold, len(role.Principals), rule.Role)
		}
	}
}
