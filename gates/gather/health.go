package gather

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nodewright/nodewright/gates"
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

var yamlLine = regexp.MustCompile(`line (\d+): `)

// ParseHealth reads a health report strictly: unknown fields, duplicate
// keys, wrong types and duplicate nodes are errors naming file and line.
func ParseHealth(file string, data []byte) (gates.Health, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var r HealthReport
	if err := dec.Decode(&r); err != nil && !errors.Is(err, io.EOF) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			return gates.Health{}, fmt.Errorf("%s:%d: %s", file, n, strings.Replace(msg, m[0], "", 1))
		}
		return gates.Health{}, fmt.Errorf("%s: %s", file, msg)
	}
	h := gates.Health{Reported: true, Nodes: map[string]bool{}}
	for i, n := range r.Nodes {
		if n.Name == "" {
			return gates.Health{}, fmt.Errorf("%s: nodes[%d].name is required", file, i)
		}
		if _, dup := h.Nodes[n.Name]; dup {
			return gates.Health{}, fmt.Errorf("%s: nodes[%d]: node %q is listed twice", file, i, n.Name)
		}
		h.Nodes[n.Name] = n.Ready
	}
	for i, d := range r.DRBD {
		if d.Name == "" || d.Replicas < 0 || d.UpToDate < 0 {
			return gates.Health{}, fmt.Errorf("%s: drbd[%d] needs a name and non-negative counts", file, i)
		}
	}
	h.DRBD = r.DRBD
	for i, o := range r.InFlight {
		if o.Kind == "" || o.Name == "" {
			return gates.Health{}, fmt.Errorf("%s: inFlight[%d] needs kind and name", file, i)
		}
		h.InFlight = append(h.InFlight, gates.Operation{Kind: o.Kind, Name: o.Name, Nodes: o.Nodes, Disruptive: o.Disruptive})
	}
	return h, nil
}
