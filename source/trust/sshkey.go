package trust

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// An SSH key of a trust policy (the value of a key's ssh field) is one line
// in one of two forms:
//
//	[options] key-type base64 [comment]              (authorized_keys form)
//	principals [options] key-type base64 [comment]   (allowed_signers form)
//
// The allowed_signers form is what ssh-keygen -Y verify reads; its
// principals field is informational here (the key belongs to the policy
// principal it is listed under). Options are those of ssh-keygen's
// allowed_signers, enforced when a signature is checked:
//
//	namespaces="git,file"   the key signs only in these namespaces
//	                        (comma-separated patterns: * and ? wildcards,
//	                        a leading ! excludes)
//	valid-after="..."       the key signs nothing judged before this time
//	valid-before="..."      the key signs nothing judged after this time
//
// Times are YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS followed by Z (or UTC)
// and are in UTC. The zone is required: ssh-keygen reads a time without it
// in the local zone of the verifying machine, which a policy shared by a
// fleet cannot depend on. Every other option is refused: cert-authority
// (certificates are not supported) and the authorized_keys login options
// (command=, from=, no-pty, restrict and so on), which mean nothing for
// signatures. SSH certificates as keys are refused too.

// sshKeyLine is one parsed SSH key line.
type sshKeyLine struct {
	key         ssh.PublicKey
	principals  string // the allowed_signers principals field; "" in the authorized_keys form
	namespaces  []string
	validAfter  time.Time
	validBefore time.Time
}

// sshKeyTypes are the key types a line may name.
var sshKeyTypes = map[string]bool{
	ssh.KeyAlgoRSA: true, "ssh-dss": true, ssh.KeyAlgoECDSA256: true, ssh.KeyAlgoECDSA384: true,
	ssh.KeyAlgoECDSA521: true, ssh.KeyAlgoSKECDSA256: true, ssh.KeyAlgoED25519: true, ssh.KeyAlgoSKED25519: true,
}

// sshCertTypes are the certificate types, refused.
var sshCertTypes = map[string]bool{
	ssh.CertAlgoRSAv01: true, "ssh-dss-cert-v01@openssh.com": true, ssh.CertAlgoECDSA256v01: true, ssh.CertAlgoECDSA384v01: true,
	ssh.CertAlgoECDSA521v01: true, ssh.CertAlgoSKECDSA256v01: true, ssh.CertAlgoED25519v01: true, ssh.CertAlgoSKED25519v01: true,
}

// loginOptions are the authorized_keys options, named when refused.
var loginOptions = map[string]bool{
	"agent-forwarding": true, "command": true, "environment": true, "expiry-time": true, "from": true,
	"no-agent-forwarding": true, "no-port-forwarding": true, "no-pty": true, "no-user-rc": true,
	"no-x11-forwarding": true, "permitlisten": true, "permitopen": true, "port-forwarding": true,
	"principals": true, "pty": true, "no-touch-required": true, "verify-required": true, "restrict": true,
	"tunnel": true, "user-rc": true, "x11-forwarding": true,
}

const notAKeyLine = `not an SSH public key line ("[options] type base64 [comment]", or "principals [options] type base64 [comment]" as in an allowed_signers file)`

// parseSSHKeyLine reads the value of a key's ssh field. Blank lines and
// lines starting with # are skipped; exactly one key line must remain.
func parseSSHKeyLine(value string) (*sshKeyLine, error) {
	var lines []string
	for _, l := range strings.Split(value, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	switch {
	case len(lines) == 0:
		return nil, errors.New(notAKeyLine + ": no key")
	case len(lines) > 1:
		return nil, errors.New("holds more than one key; list each as its own entry")
	}
	fields, err := splitFields(lines[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", notAKeyLine, err)
	}
	k := -1
	for i, f := range fields {
		if sshCertTypes[f] {
			return nil, fmt.Errorf("SSH certificates (%s) are not supported; list the signer's own public key", f)
		}
		if sshKeyTypes[f] {
			k = i
			break
		}
	}
	switch {
	case k < 0:
		return nil, fmt.Errorf("%s: no key type such as %s", notAKeyLine, ssh.KeyAlgoED25519)
	case k > 2:
		return nil, fmt.Errorf("%s: %d fields before the key type %s", notAKeyLine, k, fields[k])
	case k+1 >= len(fields):
		return nil, fmt.Errorf("%s: no base64 key after %s", notAKeyLine, fields[k])
	}
	blob, err := base64.StdEncoding.DecodeString(fields[k+1])
	if err != nil {
		return nil, fmt.Errorf("%s: the key after %s is not base64: %w", notAKeyLine, fields[k], err)
	}
	pub, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", notAKeyLine, err)
	}
	if pub.Type() != fields[k] {
		return nil, fmt.Errorf("%s: the line names key type %s but holds a %s key", notAKeyLine, fields[k], pub.Type())
	}
	out := &sshKeyLine{key: pub}
	var opts string
	switch k {
	case 1:
		if looksLikeOptions(fields[0]) {
			opts = fields[0]
		} else {
			out.principals = fields[0]
		}
	case 2:
		if looksLikeOptions(fields[0]) {
			return nil, fmt.Errorf("%s: %q before %q looks like options; options are one comma-separated field without spaces, after the principals of an allowed_signers line", notAKeyLine, fields[0], fields[1])
		}
		out.principals, opts = fields[0], fields[1]
	}
	if opts != "" {
		if err := out.parseOptions(opts); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// splitFields splits a line at unquoted spaces and tabs. A double quote
// starts or ends a quoted part; \" inside one is a quote.
func splitFields(line string) ([]string, error) {
	var fields []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\\' && i+1 < len(line) && line[i+1] == '"':
			cur.WriteString(`\"`)
			i++
		case c == '"':
			quoted = !quoted
			cur.WriteByte(c)
		case !quoted && (c == ' ' || c == '\t'):
			if cur.Len() > 0 {
				fields = append(fields, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteByte(c)
		}
	}
	if quoted {
		return nil, errors.New("a quote is not closed")
	}
	if cur.Len() > 0 {
		fields = append(fields, cur.String())
	}
	return fields, nil
}

// looksLikeOptions reports whether the field before a key type is
// options rather than allowed_signers principals: it has an option with a
// value (name=...) or consists of option names only. A mistyped option
// (namespace="git") is so refused as an option rather than taken for a
// principal, which would silently drop the restriction.
func looksLikeOptions(field string) bool {
	if strings.Contains(field, "=") {
		return true
	}
	for _, name := range strings.Split(field, ",") {
		n := strings.ToLower(name)
		if !loginOptions[n] && n != "cert-authority" && n != "namespaces" && n != "valid-after" && n != "valid-before" {
			return false
		}
	}
	return true
}

// splitOptions splits an options field at unquoted commas.
func splitOptions(field string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(field); i++ {
		switch {
		case quoted && field[i] == '\\' && i+1 < len(field) && field[i+1] == '"':
			i++
		case field[i] == '"':
			quoted = !quoted
		case !quoted && field[i] == ',':
			out = append(out, field[start:i])
			start = i + 1
		}
	}
	return append(out, field[start:])
}

// parseOptions reads the options field into l.
func (l *sshKeyLine) parseOptions(field string) error {
	seen := map[string]bool{}
	for _, opt := range splitOptions(field) {
		if opt == "" {
			return fmt.Errorf("options %q: an empty option (a comma too many)", field)
		}
		rawName, value, hasValue := strings.Cut(opt, "=")
		name := strings.ToLower(rawName)
		switch {
		case name == "cert-authority":
			return errors.New(`option "cert-authority": SSH certificates are not supported; list each signer's own public key`)
		case name != "namespaces" && name != "valid-after" && name != "valid-before":
			if loginOptions[name] {
				return fmt.Errorf("option %q is an authorized_keys login restriction and means nothing for signatures; only namespaces, valid-after and valid-before are accepted", rawName)
			}
			return fmt.Errorf("option %q is not supported; only namespaces, valid-after and valid-before are accepted", rawName)
		case seen[name]:
			return fmt.Errorf("option %q is given twice", name)
		}
		seen[name] = true
		if !hasValue || len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' {
			return fmt.Errorf(`option %q needs a value in double quotes, such as %s="%s"`, name, name, optionExample[name])
		}
		inner := value[1 : len(value)-1]
		if strings.Contains(strings.ReplaceAll(inner, `\"`, ""), `"`) {
			return fmt.Errorf("option %q: the value %s holds an unescaped quote", name, value)
		}
		v := strings.ReplaceAll(inner, `\"`, `"`)
		var err error
		switch name {
		case "namespaces":
			l.namespaces, err = parseNamespaces(v)
		case "valid-after":
			l.validAfter, err = parseSSHTime(v)
		case "valid-before":
			l.validBefore, err = parseSSHTime(v)
		}
		if err != nil {
			return fmt.Errorf("option %q: %w", name, err)
		}
	}
	if !l.validAfter.IsZero() && !l.validBefore.IsZero() && !l.validBefore.After(l.validAfter) {
		return fmt.Errorf("valid-before (%s) is not after valid-after (%s)", l.validBefore.Format(time.RFC3339), l.validAfter.Format(time.RFC3339))
	}
	return nil
}

var optionExample = map[string]string{"namespaces": "git", "valid-after": "20250101Z", "valid-before": "20270101Z"}

// parseNamespaces reads a namespaces pattern list.
func parseNamespaces(v string) ([]string, error) {
	if v == "" {
		return nil, errors.New("lists no namespace")
	}
	pats := strings.Split(v, ",")
	for _, p := range pats {
		switch {
		case strings.TrimPrefix(p, "!") == "":
			return nil, fmt.Errorf("%q has an empty namespace pattern", v)
		case strings.ContainsAny(p, " \t"):
			return nil, fmt.Errorf("namespace pattern %q holds a space, which no namespace does", p)
		}
	}
	return pats, nil
}

// sshTimeLayouts are the layouts of ssh-keygen's absolute times, by length.
var sshTimeLayouts = map[int]string{8: "20060102", 12: "200601021504", 14: "20060102150405"}

// parseSSHTime reads a time as ssh-keygen's allowed_signers does, but
// only in UTC: YYYYMMDD[HHMM[SS]] followed by Z or UTC.
func parseSSHTime(v string) (time.Time, error) {
	digits := v
	upper := strings.ToUpper(v)
	switch {
	case strings.HasSuffix(upper, "UTC"):
		digits = v[:len(v)-3]
	case strings.HasSuffix(upper, "Z"):
		digits = v[:len(v)-1]
	}
	layout, ok := sshTimeLayouts[len(digits)]
	if !ok || strings.Trim(digits, "0123456789") != "" {
		return time.Time{}, fmt.Errorf("%q is not a time of the form YYYYMMDD[HHMM[SS]]Z", v)
	}
	if digits == v {
		return time.Time{}, fmt.Errorf("%q has no time zone; add Z for UTC (ssh-keygen would read it in the local zone of each verifying machine)", v)
	}
	t, err := time.ParseInLocation(layout, digits, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a valid time: %w", v, err)
	}
	return t, nil
}

// AllowsNamespace reports whether the key may sign in SSH signature
// namespace ns: always when Namespaces is empty, else when ns matches a
// pattern of Namespaces and no excluding (!) pattern, as ssh-keygen's
// match_pattern_list decides.
func (h Holder) AllowsNamespace(ns string) bool {
	if len(h.Namespaces) == 0 {
		return true
	}
	allowed := false
	for _, p := range h.Namespaces {
		if neg, ok := strings.CutPrefix(p, "!"); ok {
			if matchPattern(ns, neg) {
				return false
			}
		} else if matchPattern(ns, p) {
			allowed = true
		}
	}
	return allowed
}

// ValidAt reports whether t lies inside the key's ValidAfter–ValidBefore
// window, both ends included, to the second (as ssh-keygen compares).
func (h Holder) ValidAt(t time.Time) bool {
	if !h.ValidAfter.IsZero() && t.Unix() < h.ValidAfter.Unix() {
		return false
	}
	if !h.ValidBefore.IsZero() && t.Unix() > h.ValidBefore.Unix() {
		return false
	}
	return true
}

// matchPattern matches s against a pattern where * is any run of bytes
// and ? any one byte.
func matchPattern(s, pat string) bool {
	// Iterative wildcard match with one backtrack point.
	si, pi, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(pat) && (pat[pi] == '?' || pat[pi] == s[si]):
			si++
			pi++
		case pi < len(pat) && pat[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pat) && pat[pi] == '*' {
		pi++
	}
	return pi == len(pat)
}
