package gather

import (
	"fmt"

	"github.com/nodewright/nodewright/gates"
	"github.com/nodewright/nodewright/internal/yamlfile"
)

// HealthReport is the file form of a site's health, for plan --health:
//
//	nodes: [{name: node-a, ready: true}]
//	drbd: [{name: pvc-1, replicas: 3, upToDate: 3}]
//	inFlight: [{kind: BondModeFlipPlan, name: flip, nodes: [node-a], disruptive: true}]
type HealthReport struct {
	Nodes []struct {
		Name  string `yaml:"name"`
		Ready bool   `yaml:"ready"`
	} `yaml:"nodes"`
	DRBD     []gates.DRBDResource `yaml:"drbd"`
	InFlight []struct {
		Kind       string   `yaml:"kind"`
		Name       string   `yaml:"name"`
		Nodes      []string `yaml:"nodes"`
		Disruptive bool     `yaml:"disruptive"`
	} `yaml:"inFlight"`
}

// ParseHealth reads a health report strictly: unknown fields, duplicate
// keys, wrong types, more than one document and duplicate nodes are
// errors naming file and line (yamlfile's, in yaml.v3's wording). The
// error is a yamlfile.Errors listing every problem.
func ParseHealth(file string, data []byte) (gates.Health, error) {
	var r HealthReport
	if _, err := yamlfile.Decode(file, data, &r, yamlfile.Options{Tag: "yaml", YAMLv3: true, Aliases: true}); err != nil {
		return gates.Health{}, err
	}
	var errs yamlfile.Errors
	bad := func(field, format string, args ...any) {
		errs = append(errs, &yamlfile.Error{File: file, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	h := gates.Health{Reported: true, Nodes: map[string]bool{}}
	for i, n := range r.Nodes {
		if n.Name == "" {
			bad("", "nodes[%d].name is required", i)
			continue
		}
		if _, dup := h.Nodes[n.Name]; dup {
			bad(fmt.Sprintf("nodes[%d]", i), "node %q is listed twice", n.Name)
			continue
		}
		h.Nodes[n.Name] = n.Ready
	}
	for i, d := range r.DRBD {
		if d.Name == "" || d.Replicas < 0 || d.UpToDate < 0 {
			bad("", "drbd[%d] needs a name and non-negative counts", i)
		}
	}
	h.DRBD = r.DRBD
	for i, o := range r.InFlight {
		if o.Kind == "" || o.Name == "" {
			bad("", "inFlight[%d] needs kind and name", i)
			continue
		}
		h.InFlight = append(h.InFlight, gates.Operation{Kind: o.Kind, Name: o.Name, Nodes: o.Nodes, Disruptive: o.Disruptive})
	}
	if len(errs) > 0 {
		return gates.Health{}, errs
	}
	return h, nil
}
