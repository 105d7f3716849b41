package clusters

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nodewright/nodewright/source/trust"
)

// Path is where the cluster keys live in a fleet repository.
const Path = ".nodewright/clusters.yaml"

// Kind is the kind of a cluster keys document.
const Kind = "ClusterKeys"

// MaxSize bounds a cluster keys document; larger input is refused unread.
const MaxSize = 8 << 20

// namePattern is what a cluster name may look like: it names the
// cluster's directory clusters/<name>/ on the status branch.
var namePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)

// sitePattern is the site name pattern of FleetSource.spec.site.
var sitePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// Keys is a ClusterKeys document. Build one with Parse; a zero Keys has
// no keyring.
type Keys struct {
	APIVersion string    `yaml:"apiVersion" json:"apiVersion"`
	Kind       string    `yaml:"kind" json:"kind"`
	Clusters   []Cluster `yaml:"clusters" json:"clusters"`

	keyring *trust.Keyring
	index   map[string]int
}

// Cluster is one cluster of the fleet with the keys it signs status
// commits with.
type Cluster struct {
	// Name is the cluster's name and its directory on the status branch.
	Name string `yaml:"name" json:"name"`
	// Site is the site the cluster serves.
	Site string `yaml:"site" json:"site"`
	// Keys are the cluster's public keys; any of them may sign.
	Keys []Key `yaml:"keys" json:"keys"`

	keyring *trust.Keyring
}

// Key is one public key: exactly one of OpenPGP (ASCII-armored) or SSH
// (an authorized-keys line), as in a TrustPolicy.
type Key struct {
	OpenPGP string `yaml:"openpgp,omitempty" json:"openpgp,omitempty"`
	SSH     string `yaml:"ssh,omitempty" json:"ssh,omitempty"`
}

// Error is a problem of a cluster keys document, located as
// "file:line: field: message" (trust.Error's shape).
type Error = trust.Error

// Errors is every problem found in one document.
type Errors = trust.Errors

// Parse decodes and validates a ClusterKeys document; file names it in
// errors. On failure the error is an Errors listing every problem found.
func Parse(file string, data []byte) (*Keys, error) {
	if len(data) > MaxSize {
		return nil, Errors{{File: file, Msg: fmt.Sprintf("document is %d bytes, more than the %d allowed", len(data), MaxSize)}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlErrors(file, err)
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, Errors{{File: file, Msg: "document is empty"}}
	}
	if line := aliasLine(&root); line > 0 {
		return nil, Errors{{File: file, Line: line, Msg: "YAML anchors and aliases are not allowed"}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var k Keys
	if err := dec.Decode(&k); err != nil {
		return nil, yamlErrors(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := 0
		if err == nil {
			line = extra.Line
		}
		return nil, Errors{{File: file, Line: line, Msg: "more than one YAML document; a cluster keys file is exactly one"}}
	}
	v := validator{file: file, root: root.Content[0]}
	v.validate(&k)
	if len(v.errs) > 0 {
		return nil, v.errs
	}
	return &k, nil
}

// Keyring returns the keys of every cluster in one keyring; a key's
// Holder.Principal is the name of the cluster holding it.
func (k *Keys) Keyring() *trust.Keyring { return k.keyring }

// Cluster returns the cluster named name.
func (k *Keys) Cluster(name string) (*Cluster, bool) {
	i, ok := k.index[name]
	if !ok {
		return nil, false
	}
	return &k.Clusters[i], true
}

// Names returns the cluster names, sorted.
func (k *Keys) Names() []string {
	names := make([]string, 0, len(k.Clusters))
	for _, c := range k.Clusters {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	return names
}

// Keyring returns the cluster's own keys, for signature.Verify; the
// holder of each is the cluster.
func (c *Cluster) Keyring() *trust.Keyring { return c.keyring }

// validator collects every problem of one document with its line.
type validator struct {
	file string
	root *yaml.Node
	errs Errors
}

func (v *validator) add(path []any, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.file, Line: lineOf(v.root, path), Field: fieldPath(path), Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) validate(k *Keys) {
	if k.APIVersion != trust.APIVersion {
		v.add([]any{"apiVersion"}, "%q is not supported; use %q", k.APIVersion, trust.APIVersion)
	}
	if k.Kind != Kind {
		v.add([]any{"kind"}, "%q is not %q", k.Kind, Kind)
	}
	if !hasKey(v.root, "clusters") {
		v.add([]any{"clusters"}, "clusters is required (it may be an empty list)")
	}
	k.index = make(map[string]int, len(k.Clusters))
	principals := make([]trust.Principal, len(k.Clusters))
	for i, c := range k.Clusters {
		switch {
		case c.Name == "":
			v.add([]any{"clusters", i, "name"}, "name is required")
		case !namePattern.MatchString(c.Name):
			v.add([]any{"clusters", i, "name"}, "%q is not a cluster name (lower-case letters, digits, '.', '-'; at most 63)", c.Name)
		}
		if j, dup := k.index[c.Name]; dup && c.Name != "" {
			v.add([]any{"clusters", i, "name"}, "cluster %q is already listed at clusters[%d]", c.Name, j)
		} else {
			k.index[c.Name] = i
		}
		switch {
		case c.Site == "":
			v.add([]any{"clusters", i, "site"}, "site is required")
		case !sitePattern.MatchString(c.Site):
			v.add([]any{"clusters", i, "site"}, "%q is not a site name (lower-case letters, digits, '-'; at most 63)", c.Site)
		}
		if len(c.Keys) == 0 {
			v.add([]any{"clusters", i, "keys"}, "cluster %q has no keys", c.Name)
		}
		principals[i] = trust.Principal{Name: c.Name, Keys: trustKeys(c.Keys)}
	}
	// One keyring over every cluster finds a key listed for two clusters.
	kr, errs := trust.NewKeyring(principals)
	for _, e := range errs {
		path := parseFieldPath(e.Field)
		if len(path) > 0 && path[0] == "principals" {
			path[0] = "clusters"
		}
		msg := strings.ReplaceAll(e.Msg, "held by principal", "held by cluster")
		v.add(path, "%s", msg)
	}
	if len(v.errs) > 0 {
		return
	}
	k.keyring = kr
	for i := range k.Clusters {
		c := &k.Clusters[i]
		c.keyring, _ = trust.NewKeyring([]trust.Principal{principals[i]})
	}
}

func trustKeys(keys []Key) []trust.Key {
	out := make([]trust.Key, len(keys))
	for i, k := range keys {
		out[i] = trust.Key{OpenPGP: k.OpenPGP, SSH: k.SSH}
	}
	return out
}

func hasKey(n *yaml.Node, key string) bool {
	if n == nil || n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// aliasLine returns the line of the first alias or anchor in n, or 0.
func aliasLine(n *yaml.Node) int {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return n.Line
	}
	for _, c := range n.Content {
		if l := aliasLine(c); l > 0 {
			return l
		}
	}
	return 0
}

var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// yamlErrors turns a yaml.v3 error into located Errors.
func yamlErrors(file string, err error) error {
	var te *yaml.TypeError
	var msgs []string
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	out := make(Errors, 0, len(msgs))
	for _, m := range msgs {
		e := &Error{File: file, Msg: m}
		if sub := yamlLine.FindStringSubmatch(m); sub != nil {
			e.Line, _ = strconv.Atoi(sub[1])
			e.Msg = sub[2]
		}
		e.Msg = strings.ReplaceAll(e.Msg, " in type clusters.", " in ")
		out = append(out, e)
	}
	return out
}

// fieldPath renders a path such as clusters[1].keys[0].ssh.
func fieldPath(path []any) string {
	var b strings.Builder
	for _, seg := range path {
		switch s := seg.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", s)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s)
		}
	}
	return b.String()
}

// parseFieldPath is the inverse of fieldPath.
func parseFieldPath(s string) []any {
	var out []any
	for _, part := range strings.Split(s, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			out = append(out, name)
		}
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			if n, err := strconv.Atoi(num); err == nil {
				out = append(out, n)
			}
			_, rest, _ = strings.Cut(after, "[")
		}
	}
	return out
}

// lineOf finds the line of the deepest node along path that exists.
func lineOf(n *yaml.Node, path []any) int {
	if n == nil {
		return 0
	}
	line := n.Line
	for _, seg := range path {
		var next *yaml.Node
		switch s := seg.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == s {
						next = n.Content[i+1]
						line = n.Content[i].Line
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && s >= 0 && s < len(n.Content) {
				next = n.Content[s]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}
