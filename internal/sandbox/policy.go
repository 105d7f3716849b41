package sandbox

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Policy builds a TrustPolicy document (.nodewright/trust.yaml) from keys,
// so that a sandbox (and a test) reads as its scenario.
type Policy struct {
	Version    int
	History    string // "" means the default (all)
	MaxAge     string // freshness.maxAge, "" for none
	Principals []Principal
	Roles      map[string]Role
	Operations map[string]OperationRule
	// Since, when set, is written as the trust root's since commit.
	Since string
}

// Principal is one named person or system with its keys.
type Principal struct {
	Name string
	Keys []Key
}

// Key is one public key of a principal.
type Key struct {
	Signer  Signer
	Revoked bool
}

// Role lists principals and the threshold of a role.
type Role struct {
	Principals []string
	Threshold  int
}

// OperationRule names the role and threshold an operation kind needs.
type OperationRule struct {
	Role      string
	Threshold int
}

// Person is a shorthand for a principal holding the given keys.
func Person(name string, keys ...Signer) Principal {
	p := Principal{Name: name}
	for _, k := range keys {
		p.Keys = append(p.Keys, Key{Signer: k})
	}
	return p
}

// YAML renders the policy.
func (p Policy) YAML() string {
	var b strings.Builder
	b.WriteString("apiVersion: nodewright.io/v1alpha1\nkind: TrustPolicy\n")
	fmt.Fprintf(&b, "version: %d\n", p.Version)
	if p.History != "" {
		fmt.Fprintf(&b, "history: %s\n", p.History)
	}
	if p.Since != "" {
		fmt.Fprintf(&b, "since: %s\n", p.Since)
	}
	if p.MaxAge != "" {
		fmt.Fprintf(&b, "freshness: {maxAge: %s}\n", p.MaxAge)
	}
	b.WriteString("principals:\n")
	for _, pr := range p.Principals {
		fmt.Fprintf(&b, "  - name: %s\n    keys:\n", pr.Name)
		for _, k := range pr.Keys {
			if k.Signer.Format() == "ssh" {
				fmt.Fprintf(&b, "      - ssh: %q\n", k.Signer.PublicKey())
			} else {
				b.WriteString("      - openpgp: |\n")
				for _, line := range strings.Split(strings.TrimRight(k.Signer.PublicKey(), "\n"), "\n") {
					fmt.Fprintf(&b, "          %s\n", line)
				}
			}
			if k.Revoked {
				b.WriteString("        revoked: true\n")
			}
		}
	}
	b.WriteString("roles:\n")
	for _, name := range slices.Sorted(maps.Keys(p.Roles)) {
		r := p.Roles[name]
		fmt.Fprintf(&b, "  %s: {principals: [%s], threshold: %d}\n", name, strings.Join(r.Principals, ", "), r.Threshold)
	}
	if len(p.Operations) > 0 {
		b.WriteString("operations:\n")
		for _, kind := range slices.Sorted(maps.Keys(p.Operations)) {
			o := p.Operations[kind]
			fmt.Fprintf(&b, "  %s: {role: %s, threshold: %d}\n", kind, o.Role, o.Threshold)
		}
	}
	return b.String()
}
