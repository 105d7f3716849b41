package statusbranch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigyaml "sigs.k8s.io/yaml"

	"github.com/nodewright/nodewright/internal/yamlfile"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// DefaultBudget is the size status.yaml may reach before it is cut to a
// summary, when Writer.Budget is zero.
const DefaultBudget = 64 << 10

// MaxStatusBytes is the largest status.yaml ParseStatus reads.
const MaxStatusBytes = 4 << 20

// Status is the content of clusters/<cluster>/status.yaml: the cluster's
// ClusterStatus and, when the full report did not fit the size budget, the
// marks of a summary. A summary keeps the cluster, site, applied commit,
// policy version, node health and time, the first operations that fit,
// and counts of all operations.
type Status struct {
	// ClusterStatus is the report, its fields inline at the top level.
	v1.ClusterStatus `json:",inline"`
	// Truncated is true when Operations holds only the first operations of
	// the report because the full report was larger than the budget.
	Truncated bool `json:"truncated,omitempty"`
	// TotalOperations is how many operations the full report held; set
	// only in a summary.
	TotalOperations int `json:"totalOperations,omitempty"`
	// Phases counts the full report's operations by phase; set only in a
	// summary.
	Phases map[string]int `json:"phases,omitempty"`
}

// EncodeStatus returns status.yaml for st (YAML as sigs.k8s.io/yaml writes
// it) and whether it had to be cut to a summary: when the full report is
// larger than budget bytes (DefaultBudget when budget is 0 or less), the
// summary keeps the operations from the start that fit in budget. A summary
// without operations is returned even if it is larger than budget.
func EncodeStatus(st v1.ClusterStatus, budget int) ([]byte, bool, error) {
	if budget <= 0 {
		budget = DefaultBudget
	}
	full, err := marshalYAML(Status{ClusterStatus: st})
	if err != nil {
		return nil, false, fmt.Errorf("encode status: %w", err)
	}
	if len(full) <= budget {
		return full, false, nil
	}
	summary := Status{
		ClusterStatus: v1.ClusterStatus{
			Cluster:       st.Cluster,
			Site:          st.Site,
			AppliedCommit: st.AppliedCommit,
			PolicyVersion: st.PolicyVersion,
			Nodes:         st.Nodes,
			Time:          st.Time,
		},
		Truncated:       true,
		TotalOperations: len(st.Operations),
		Phases:          map[string]int{},
	}
	for _, op := range st.Operations {
		summary.Phases[op.Phase]++
	}
	encode := func(n int) ([]byte, error) {
		s := summary
		s.Operations = st.Operations[:n]
		return marshalYAML(s)
	}
	// The size grows with n, so the largest n that fits is found by
	// bisection: lo always fits (or is 0), hi never does.
	lo, hi := 0, len(st.Operations)
	best, err := encode(0)
	if err != nil {
		return nil, false, fmt.Errorf("encode status summary: %w", err)
	}
	for lo+1 < hi {
		mid := lo + (hi-lo)/2
		b, err := encode(mid)
		if err != nil {
			return nil, false, fmt.Errorf("encode status summary: %w", err)
		}
		if len(b) <= budget {
			lo, best = mid, b
		} else {
			hi = mid
		}
	}
	return best, true, nil
}

// marshalYAML is sigs.k8s.io/yaml's Marshal, made total: characters YAML
// may not carry raw (DEL, C1 controls, U+FFFE, U+FFFF) or would read back
// changed (NEL, U+0085, a line break YAML folds to a space), which encoding/json
// leaves as they are and the JSON-to-YAML step would refuse, are escaped in
// the JSON first, so the YAML holds them as double-quoted escapes.
func marshalYAML(v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return sigyaml.JSONToYAML(escapeForYAML(j))
}

// escapeForYAML rewrites runes outside YAML's printable set, and NEL
// (printable, but a line break that a YAML reader folds to a space), as
// JSON \u escapes. encoding/json already escapes those below U+0020 and
// writes invalid UTF-8 as U+FFFD, so only the rest need it.
func escapeForYAML(j []byte) []byte {
	printable := func(r rune) bool {
		return (r >= 0x20 && r <= 0x7E) || (r >= 0xA0 && r <= 0xD7FF) ||
			(r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF) || r == '\t' || r == '\n' || r == '\r'
	}
	if bytes.IndexFunc(j, func(r rune) bool { return !printable(r) }) < 0 {
		return j
	}
	out := make([]byte, 0, len(j)+16)
	for _, r := range string(j) {
		if printable(r) {
			out = utf8.AppendRune(out, r)
			continue
		}
		out = fmt.Appendf(out, "\\u%04x", r)
	}
	return out
}

// ParseError is a status.yaml that ParseStatus refuses, located at the
// field that is wrong and formatted as file:line:column: field: message:
// the repository's located error (yamlfile.Error).
type ParseError = yamlfile.Error

// ParseStatus reads a status.yaml strictly: one YAML document holding a
// mapping of Status's fields, each at most once, spelled exactly and of its
// type (strings as strings, counts as non-negative integers, time as an RFC
// 3339 timestamp or null). Unknown fields, aliases, more than one document
// and files above MaxStatusBytes are refused, and so are summary marks that
// contradict each other (totalOperations or phases without truncated, or
// fewer total operations than listed). The error is a *ParseError naming
// file, line and field. Whether the cluster named in the file is the one
// whose directory holds it is for the caller to check.
func ParseStatus(file string, data []byte) (*Status, error) {
	top, err := yamlfile.Parse(file, data, yamlfile.Options{
		MaxSize: MaxStatusBytes,
		Empty:   "file is empty; expected a cluster status",
		// The parser refuses aliases itself, at the field that uses one.
		Aliases: true,
	})
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			return nil, pe
		}
		return nil, err
	}
	p := &parser{file: file}
	st := &Status{}
	if err := p.status(top, st); err != nil {
		return nil, err
	}
	return st, nil
}

type parser struct {
	file string
}

func (p *parser) fail(n *yaml.Node, field, format string, args ...any) error {
	return yamlfile.At(p.file, n, field, format, args...)
}

// fields walks a mapping node, calling fn for each key (spelled as written)
// and refusing duplicates and non-string keys. It fails on keys fn does not
// know (fn returns false).
func (p *parser) fields(n *yaml.Node, path string, fn func(key string, v *yaml.Node, field string) (bool, error)) error {
	if n.Kind != yaml.MappingNode {
		return p.fail(n, path, "expected a mapping, got %s", describe(n))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			return p.fail(k, path, "mapping key must be a string, got %s", describe(k))
		}
		field := k.Value
		if path != "" {
			field = path + "." + k.Value
		}
		if seen[k.Value] {
			return p.fail(k, field, "field appears more than once")
		}
		seen[k.Value] = true
		if v.Kind == yaml.AliasNode {
			return p.fail(v, field, "aliases are not allowed")
		}
		known, err := fn(k.Value, v, field)
		if err != nil {
			return err
		}
		if !known {
			return p.fail(k, field, "unknown field")
		}
	}
	return nil
}

func (p *parser) status(n *yaml.Node, st *Status) error {
	if n.Kind != yaml.MappingNode {
		return p.fail(n, "", "expected a mapping of cluster status fields, got %s", describe(n))
	}
	var totalNode, phasesNode *yaml.Node
	haveCluster := false
	err := p.fields(n, "", func(key string, v *yaml.Node, field string) (bool, error) {
		var err error
		switch key {
		case "cluster":
			st.Cluster, err = p.str(v, field)
			haveCluster = true
		case "site":
			st.Site, err = p.str(v, field)
		case "appliedCommit":
			st.AppliedCommit, err = p.str(v, field)
		case "policyVersion":
			st.PolicyVersion, err = p.count(v, field)
		case "operations":
			st.Operations, err = p.operations(v, field)
		case "nodes":
			st.Nodes, err = p.nodes(v, field)
		case "time":
			st.Time, err = p.time(v, field)
		case "truncated":
			st.Truncated, err = p.bool(v, field)
		case "totalOperations":
			totalNode = v
			st.TotalOperations, err = p.count(v, field)
		case "phases":
			phasesNode = v
			st.Phases, err = p.phases(v, field)
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return err
	}
	switch {
	case !haveCluster || st.Cluster == "":
		return p.fail(n, "cluster", "is missing or empty")
	case !st.Truncated && totalNode != nil:
		return p.fail(totalNode, "totalOperations", "is set but truncated is not true")
	case !st.Truncated && phasesNode != nil:
		return p.fail(phasesNode, "phases", "is set but truncated is not true")
	case st.Truncated && st.TotalOperations < len(st.Operations):
		return p.fail(n, "totalOperations", "is %d but %d operations are listed", st.TotalOperations, len(st.Operations))
	}
	return nil
}

func (p *parser) operations(n *yaml.Node, path string) ([]v1.OperationSummary, error) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.fail(n, path, "expected a list of operations, got %s", describe(n))
	}
	ops := make([]v1.OperationSummary, 0, len(n.Content))
	for i, item := range n.Content {
		at := fmt.Sprintf("%s[%d]", path, i)
		if item.Kind == yaml.AliasNode {
			return nil, p.fail(item, at, "aliases are not allowed")
		}
		var op v1.OperationSummary
		have := map[string]bool{}
		err := p.fields(item, at, func(key string, v *yaml.Node, field string) (bool, error) {
			var err error
			switch key {
			case "kind":
				op.Kind, err = p.str(v, field)
			case "name":
				op.Name, err = p.str(v, field)
			case "phase":
				op.Phase, err = p.str(v, field)
			case "progress":
				op.Progress, err = p.str(v, field)
			default:
				return false, nil
			}
			have[key] = true
			return true, err
		})
		if err != nil {
			return nil, err
		}
		for _, req := range []string{"kind", "name", "phase"} {
			if !have[req] {
				return nil, p.fail(item, at+"."+req, "is missing")
			}
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func (p *parser) nodes(n *yaml.Node, path string) (v1.NodeHealthSummary, error) {
	var h v1.NodeHealthSummary
	have := map[string]bool{}
	err := p.fields(n, path, func(key string, v *yaml.Node, field string) (bool, error) {
		var err error
		switch key {
		case "total":
			h.Total, err = p.count(v, field)
		case "ready":
			h.Ready, err = p.count(v, field)
		default:
			return false, nil
		}
		have[key] = true
		return true, err
	})
	if err != nil {
		return h, err
	}
	for _, req := range []string{"total", "ready"} {
		if !have[req] {
			return h, p.fail(n, path+"."+req, "is missing")
		}
	}
	if h.Ready > h.Total {
		return h, p.fail(n, path+".ready", "is %d, more than the %d nodes in total", h.Ready, h.Total)
	}
	return h, nil
}

func (p *parser) phases(n *yaml.Node, path string) (map[string]int, error) {
	out := map[string]int{}
	err := p.fields(n, path, func(key string, v *yaml.Node, field string) (bool, error) {
		c, err := p.count(v, field)
		out[key] = c
		return true, err
	})
	return out, err
}

func (p *parser) str(n *yaml.Node, field string) (string, error) {
	// A plain "<<" is a merge key to yaml.v3 but only a string where a
	// value is expected, and the YAML writer leaves it unquoted.
	if n.Kind == yaml.ScalarNode && n.Tag == "!!merge" && n.Value == "<<" {
		return n.Value, nil
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return "", p.fail(n, field, "expected a string, got %s", describe(n))
	}
	return n.Value, nil
}

func (p *parser) count(n *yaml.Node, field string) (int, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, p.fail(n, field, "expected an integer, got %s", describe(n))
	}
	var v int64
	if err := n.Decode(&v); err != nil {
		return 0, p.fail(n, field, "expected an integer: %v", err)
	}
	if v < 0 || v > math.MaxInt32 {
		return 0, p.fail(n, field, "%d is out of range (0 to %d)", v, math.MaxInt32)
	}
	return int(v), nil
}

func (p *parser) bool(n *yaml.Node, field string) (bool, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		return false, p.fail(n, field, "expected true or false, got %s", describe(n))
	}
	var v bool
	if err := n.Decode(&v); err != nil {
		return false, p.fail(n, field, "expected true or false: %v", err)
	}
	return v, nil
}

func (p *parser) time(n *yaml.Node, field string) (metav1.Time, error) {
	if isNull(n) {
		return metav1.Time{}, nil
	}
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!timestamp") {
		return metav1.Time{}, p.fail(n, field, "expected an RFC 3339 time, got %s", describe(n))
	}
	t, err := time.Parse(time.RFC3339, n.Value)
	if err != nil {
		return metav1.Time{}, p.fail(n, field, "expected an RFC 3339 time such as 2025-03-01T12:00:00Z, got %q", truncate(n.Value, 40))
	}
	return metav1.NewTime(t), nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// describe names what a node holds, for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!str":
			return fmt.Sprintf("the string %q", truncate(n.Value, 40))
		case "!!int":
			return "the integer " + truncate(n.Value, 40)
		case "!!bool":
			return "the boolean " + n.Value
		case "!!float":
			return "the number " + truncate(n.Value, 40)
		}
		return fmt.Sprintf("%q (%s)", truncate(n.Value, 40), strings.TrimPrefix(n.Tag, "!!"))
	}
	return "nothing"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
