package trust

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

const sshCert = "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIA== alice"

// policyWith is the good policy with bob's key line replaced by line.
func policyWith(line string) string {
	return strings.Replace(good, `- ssh: "`+sshKey2+`"`, "- ssh: '"+line+"'", 1)
}

func TestSSHKeyLineForms(t *testing.T) {
	after := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	before := time.Date(2026, 6, 30, 12, 30, 15, 0, time.UTC)
	cases := []struct {
		name, line string
		namespaces []string
		after      time.Time
		before     time.Time
		principals string
	}{
		{name: "authorized_keys form", line: sshKey2},
		{name: "without comment", line: strings.TrimSuffix(sshKey2, " bob@laptop")},
		{name: "comment with spaces", line: sshKey2 + " and more words"},
		{name: "tabs", line: strings.ReplaceAll(sshKey2, " ", "\t")},
		{name: "options", line: `namespaces="git,nodewright-bundle" ` + sshKey2, namespaces: []string{"git", "nodewright-bundle"}},
		{name: "option names in any case", line: `Namespaces="git",VALID-AFTER="20250101z" ` + sshKey2, namespaces: []string{"git"}, after: after},
		{name: "allowed_signers form", line: "bob@example.test " + sshKey2, principals: "bob@example.test"},
		{name: "allowed_signers with patterns", line: "bob@example.test,*@ops.example.test " + sshKey2, principals: "bob@example.test,*@ops.example.test"},
		{name: "allowed_signers quoted principals", line: `"bob@example.test" ` + sshKey2, principals: `"bob@example.test"`},
		{name: "allowed_signers with options", line: `bob@example.test namespaces="git",valid-after="20250101Z",valid-before="20260630123015UTC" ` + sshKey2,
			principals: "bob@example.test", namespaces: []string{"git"}, after: after, before: before},
		{name: "minutes", line: `valid-before="202606301230Z" ` + sshKey2, before: before.Add(-15 * time.Second)},
		{name: "escaped quote", line: `namespaces="a\"b" ` + sshKey2, namespaces: []string{`a"b`}},
		{name: "surrounding blank and comment lines", line: "\n# bob's laptop\n" + sshKey2 + "\n\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := parseSSHKeyLine(c.line)
			require.NoError(t, err)
			assert.Equal(t, ssh.KeyAlgoED25519, l.key.Type())
			assert.Equal(t, c.principals, l.principals)
			assert.Equal(t, c.namespaces, l.namespaces)
			assert.True(t, c.after.Equal(l.validAfter), "valid-after %s", l.validAfter)
			assert.True(t, c.before.Equal(l.validBefore), "valid-before %s", l.validBefore)
		})
	}
}

func TestSSHKeyLineRefused(t *testing.T) {
	cases := []struct{ name, line, want string }{
		{"cert-authority", "cert-authority " + sshKey2, `option "cert-authority": SSH certificates are not supported`},
		{"cert-authority allowed_signers", `bob@x cert-authority,namespaces="git" ` + sshKey2, `option "cert-authority": SSH certificates are not supported`},
		{"certificate key", sshCert, "SSH certificates (ssh-ed25519-cert-v01@openssh.com) are not supported"},
		{"command", `command="/bin/true" ` + sshKey2, `option "command" is an authorized_keys login restriction and means nothing for signatures`},
		{"no-pty", "no-pty " + sshKey2, `option "no-pty" is an authorized_keys login restriction`},
		{"restrict after namespaces", `namespaces="git",restrict ` + sshKey2, `option "restrict" is an authorized_keys login restriction`},
		{"from", `bob@x from="10.0.0.0/8" ` + sshKey2, `option "from" is an authorized_keys login restriction`},
		{"unknown option", `colour="blue" ` + sshKey2, `option "colour" is not supported; only namespaces, valid-after and valid-before are accepted`},
		{"mistyped option", `namespace="git" ` + sshKey2, `option "namespace" is not supported`},
		{"mistyped option allowed_signers", `bob@x namespace="git" ` + sshKey2, `option "namespace" is not supported`},
		{"options split by a space", `namespaces="git" valid-before="20300101Z" ` + sshKey2, `looks like options; options are one comma-separated field without spaces`},
		{"twice", `namespaces="git",namespaces="file" ` + sshKey2, `option "namespaces" is given twice`},
		{"unquoted", `namespaces=git ` + sshKey2, `option "namespaces" needs a value in double quotes, such as namespaces="git"`},
		{"no value", `bob@x valid-after ` + sshKey2, `option "valid-after" needs a value in double quotes`},
		{"stray quote", `namespaces="g"it" ` + sshKey2, `not an SSH public key line`},
		{"empty option", `namespaces="git",, ` + sshKey2, `an empty option (a comma too many)`},
		{"empty namespaces", `namespaces="" ` + sshKey2, `option "namespaces": lists no namespace`},
		{"empty pattern", `namespaces="git,,file" ` + sshKey2, `option "namespaces": "git,,file" has an empty namespace pattern`},
		{"bare negation", `namespaces="!" ` + sshKey2, `has an empty namespace pattern`},
		{"space in pattern", `namespaces="git, file" ` + sshKey2, `namespace pattern " file" holds a space`},
		{"time without zone", `valid-after="20250101" ` + sshKey2, `option "valid-after": "20250101" has no time zone; add Z for UTC`},
		{"time too short", `valid-after="202501Z" ` + sshKey2, `option "valid-after": "202501Z" is not a time of the form YYYYMMDD[HHMM[SS]]Z`},
		{"time not digits", `valid-before="2025-01-01Z" ` + sshKey2, `is not a time of the form`},
		{"time out of range", `valid-before="20250230Z" ` + sshKey2, `option "valid-before": "20250230Z" is not a valid time`},
		{"hour out of range", `valid-before="202501012500Z" ` + sshKey2, `is not a valid time`},
		{"empty window", `valid-after="20260101Z",valid-before="20250101Z" ` + sshKey2, "valid-before (2025-01-01T00:00:00Z) is not after valid-after (2026-01-01T00:00:00Z)"},
		{"equal window", `valid-after="20260101Z",valid-before="20260101Z" ` + sshKey2, "is not after valid-after"},
		{"no key type", "bob@x AAAAC3NzaC1lZDI1NTE5AAAAIFc41i", "no key type such as ssh-ed25519"},
		{"too many fields before the key", "a b c " + sshKey2, "3 fields before the key type ssh-ed25519"},
		{"no base64", "ssh-ed25519", "no base64 key after ssh-ed25519"},
		{"not base64", "ssh-ed25519 AAAA!!!!", "is not base64"},
		{"wrong key type", strings.Replace(sshKey2, "ssh-ed25519", "ssh-rsa", 1), "not an SSH public key line"},
		{"unclosed quote", `namespaces="git ` + sshKey2, "a quote is not closed"},
		{"two keys", sshKey + "\n" + sshKey2, "holds more than one key; list each as its own entry"},
		{"nothing", "# just a comment\n", "not an SSH public key line"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseSSHKeyLine(c.line)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// Problems of an ssh key line are located like every other policy error.
func TestSSHKeyLineErrorsAreLocated(t *testing.T) {
	for line, want := range map[string]string{
		"cert-authority " + sshKey2:                  `trust.yaml:12: principals[1].keys[0].ssh: option "cert-authority": SSH certificates are not supported`,
		`valid-before="2030" ` + sshKey2:             `trust.yaml:12: principals[1].keys[0].ssh: option "valid-before": "2030" is not a time`,
		`bob@x no-agent-forwarding ` + sshKey2:       `trust.yaml:12: principals[1].keys[0].ssh: option "no-agent-forwarding" is an authorized_keys login restriction`,
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFc41i": `trust.yaml:12: principals[1].keys[0].ssh: not an SSH public key line`,
	} {
		_, err := Parse("trust.yaml", []byte(policyWith(line)))
		require.Error(t, err, line)
		assert.Contains(t, err.Error(), want)
	}

	// The same holds for documents that list keys through NewKeyring.
	_, errs := NewKeyring([]Principal{{Name: "edge-1", Keys: []Key{{SSH: "edge-1 cert-authority " + sshKey}}}})
	require.Len(t, errs, 1)
	assert.Equal(t, "principals[0].keys[0].ssh", errs[0].Field)
	assert.Contains(t, errs[0].Message, "SSH certificates are not supported")
}

func TestSSHKeyOptionsReachTheHolder(t *testing.T) {
	p, err := Parse("trust.yaml", []byte(policyWith(`bob@laptop namespaces="nodewright-bundle",valid-after="20250101Z",valid-before="20270101Z" `+sshKey2)))
	require.NoError(t, err)
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(sshKey2))
	require.NoError(t, err)
	h, ok := p.Keyring().SSHHolder(pub)
	require.True(t, ok)
	assert.Equal(t, "bob", h.Principal)
	assert.True(t, h.Revoked)
	assert.Equal(t, []string{"nodewright-bundle"}, h.Namespaces)
	assert.Equal(t, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), h.ValidAfter)
	assert.Equal(t, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), h.ValidBefore)
	assert.False(t, h.AllowsNamespace("git"))
	assert.True(t, h.AllowsNamespace("nodewright-bundle"))

	q, err := Parse("trust.yaml", []byte(good))
	require.NoError(t, err)
	assert.NotEqual(t, p.Digest(), q.Digest(), "options are part of the policy's meaning")

	h, _ = q.Keyring().SSHHolder(pub)
	assert.Empty(t, h.Namespaces)
	assert.True(t, h.AllowsNamespace("anything"))
	assert.True(t, h.ValidAt(time.Unix(0, 0)))
}

func TestAllowsNamespace(t *testing.T) {
	cases := []struct {
		patterns []string
		ns       string
		want     bool
	}{
		{[]string{"git"}, "git", true},
		{[]string{"git"}, "gitx", false},
		{[]string{"file", "git"}, "git", true},
		{[]string{"*"}, "git", true},
		{[]string{"nodewright-*"}, "nodewright-bundle", true},
		{[]string{"nodewright-*"}, "git", false},
		{[]string{"?it"}, "git", true},
		{[]string{"?it"}, "it", false},
		{[]string{"*", "!git"}, "git", false},
		{[]string{"!git", "*"}, "file", true},
		{[]string{"!git"}, "file", false}, // only exclusions allow nothing, as in ssh-keygen
		{[]string{"a*b*c"}, "aXbYc", true},
		{[]string{"a*b*c"}, "aXbY", false},
		{[]string{"**"}, "", true},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, Holder{Namespaces: c.patterns}.AllowsNamespace(c.ns), "%v %q", c.patterns, c.ns)
	}
}

func TestValidAtIncludesBothEnds(t *testing.T) {
	after := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	before := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := Holder{ValidAfter: after, ValidBefore: before}
	assert.False(t, h.ValidAt(after.Add(-time.Second)))
	assert.True(t, h.ValidAt(after))
	assert.True(t, h.ValidAt(before.Add(999*time.Millisecond)), "compared to the second")
	assert.False(t, h.ValidAt(before.Add(time.Second)))
	assert.True(t, Holder{ValidAfter: after}.ValidAt(before.AddDate(100, 0, 0)))
	assert.True(t, Holder{ValidBefore: before}.ValidAt(time.Unix(0, 0)))
}

// sshLineSeeds are SSH key lines for the fuzz targets' seed corpora.
var sshLineSeeds = []string{
	sshKey,
	"bob@example.test " + sshKey2,
	`bob@example.test namespaces="git,nodewright-*,!file",valid-after="20250101Z",valid-before="20260630123015UTC" ` + sshKey2,
	`namespaces="a\"b" ` + sshKey2,
	`cert-authority,command="x" ` + sshKey2,
	`bob namespace="git" valid-after="2025" ` + sshKey2,
	sshCert,
	"\n# c\n" + sshKey + "\n",
	`"unclosed ` + sshKey,
}

func FuzzSSHKeyLine(f *testing.F) {
	for _, s := range sshLineSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		l, err := parseSSHKeyLine(line)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		if l.key == nil {
			t.Fatal("a parsed line has a key")
		}
		if !l.validAfter.IsZero() && !l.validBefore.IsZero() && !l.validBefore.After(l.validAfter) {
			t.Fatalf("empty window accepted: %v .. %v", l.validAfter, l.validBefore)
		}
		for _, p := range l.namespaces {
			if strings.TrimPrefix(p, "!") == "" {
				t.Fatalf("empty namespace pattern accepted in %q", line)
			}
		}
		h := Holder{Namespaces: l.namespaces}
		_ = h.AllowsNamespace("git")
	})
}
