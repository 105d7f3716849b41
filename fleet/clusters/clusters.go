package clusters

import (
	"regexp"
	"slices"
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
// "file:line: field: message": trust.Error, the repository's located
// error (yamlfile.Error).
type Error = trust.Error

// Errors is every problem found in one document.
type Errors = trust.Errors

// Parse decodes and validates a ClusterKeys document; file names it in
// errors. On failure the error is an Errors listing every problem found.
func Parse(file string, data []byte) (*Keys, error) {
	var k Keys
	root, err := trust.DecodeDocument(file, data, MaxSize, "a cluster keys file", &k)
	if err != nil {
		return nil, err
	}
	v := validator{trust.Validator{File: file, Root: root}}
	v.validate(&k)
	if len(v.Errs) > 0 {
		return nil, v.Errs
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
// validator checks a ClusterKeys document's meaning.
type validator struct{ trust.Validator }

func (v *validator) validate(k *Keys) {
	if k.APIVersion != trust.APIVersion {
		v.Add([]any{"apiVersion"}, "%q is not supported; use %q", k.APIVersion, trust.APIVersion)
	}
	if k.Kind != Kind {
		v.Add([]any{"kind"}, "%q is not %q", k.Kind, Kind)
	}
	if !hasKey(v.Root, "clusters") {
		v.Add([]any{"clusters"}, "clusters is required (it may be an empty list)")
	}
	k.index = make(map[string]int, len(k.Clusters))
	principals := make([]trust.Principal, len(k.Clusters))
	for i, c := range k.Clusters {
		switch {
		case c.Name == "":
			v.Add([]any{"clusters", i, "name"}, "name is required")
		case !namePattern.MatchString(c.Name):
			v.Add([]any{"clusters", i, "name"}, "%q is not a cluster name (lower-case letters, digits, '.', '-'; at most 63)", c.Name)
		}
		if j, dup := k.index[c.Name]; dup && c.Name != "" {
			v.Add([]any{"clusters", i, "name"}, "cluster %q is already listed at clusters[%d]", c.Name, j)
		} else {
			k.index[c.Name] = i
		}
		switch {
		case c.Site == "":
			v.Add([]any{"clusters", i, "site"}, "site is required")
		case !sitePattern.MatchString(c.Site):
			v.Add([]any{"clusters", i, "site"}, "%q is not a site name (lower-case letters, digits, '-'; at most 63)", c.Site)
		}
		if len(c.Keys) == 0 {
			v.Add([]any{"clusters", i, "keys"}, "cluster %q has no keys", c.Name)
		}
		principals[i] = trust.Principal{Name: c.Name, Keys: trustKeys(c.Keys)}
	}
	// One keyring over every cluster finds a key listed for two clusters.
	kr, errs := trust.NewKeyring(principals)
	for _, e := range errs {
		path := trust.ParseFieldPath(e.Field)
		if len(path) > 0 && path[0] == "principals" {
			path[0] = "clusters"
		}
		msg := strings.ReplaceAll(e.Message, "held by principal", "held by cluster")
		v.Add(path, "%s", msg)
	}
	if len(v.Errs) > 0 {
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
