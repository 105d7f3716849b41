package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// MaxManifestSize bounds one manifest file; larger files are refused unread.
const MaxManifestSize = 1 << 20

// maxNodes bounds how many YAML nodes one document may expand to, so that
// alias bombs cost nothing.
const maxNodes = 100000

// Position is a place in a file.
type Position struct {
	Line   int
	Column int
}

// Document is one decoded manifest with the position of each field.
type Document struct {
	// File names the file in problems.
	File string
	// Kind is the manifest's kind.
	Kind string
	// Object is the decoded object, defaults not yet applied.
	Object v1.Object
	// fields maps a field path (spec.nodes[0].name) to its position.
	fields map[string]Position
	// locate, when set, places a field in the source files a rendered
	// document came from: positions in rendered output mean nothing to
	// the person reading the problem.
	locate Locator
}

// Locator finds where a field of a rendered document was written: the
// file and position of the patch or source manifest that set it.
type Locator func(path string) (file string, pos Position, ok bool)

// Has reports whether the manifest sets the field at path.
func (d *Document) Has(path string) bool {
	_, ok := d.fields[path]
	return ok
}

// Problem makes a problem about the field at path, located at that field
// or at its nearest ancestor the manifest sets.
func (d *Document) Problem(sev Severity, path, format string, args ...any) Problem {
	p := Problem{File: d.File, Field: path, Severity: sev, Message: fmt.Sprintf(format, args...)}
	if d.locate != nil {
		for q := path; ; q = ParentPath(q) {
			if file, pos, ok := d.locate(q); ok {
				p.File, p.Line, p.Column = file, pos.Line, pos.Column
				return p
			}
			if q == "" {
				return p
			}
		}
	}
	for q := path; ; q = ParentPath(q) {
		if pos, ok := d.fields[q]; ok {
			p.Line, p.Column = pos.Line, pos.Column
			return p
		}
		if q == "" {
			return p
		}
	}
}

// Rendered marks the document as decoded from rendered output: its
// problems are placed by locate (in the files the output came from), or
// name the document's file without a position.
func (d *Document) Rendered(locate Locator) { d.locate = locate }

// Position returns where the document sets the field at path.
func (d *Document) Position(path string) (Position, bool) {
	pos, ok := d.fields[path]
	return pos, ok
}

// ParentPath strips the last element of a field path: spec.nodes[0].name -> spec.nodes[0] -> spec.nodes -> spec -> "".
func ParentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		return p[:strings.LastIndexByte(p, '[')]
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// NewObject returns an empty object of kind, or nil for a kind this
// package does not know.
func NewObject(kind string) v1.Object {
	switch kind {
	case v1.KindEdgeProfile:
		return &v1.EdgeProfile{}
	case v1.KindBondModeFlipPlan:
		return &v1.BondModeFlipPlan{}
	case v1.KindReplicationUpgrade:
		return &v1.ReplicationUpgrade{}
	case v1.KindVMVolumeMigration:
		return &v1.VMVolumeMigration{}
	case v1.KindFleetSource:
		return &v1.FleetSource{}
	case v1.KindNodeTask:
		return &v1.NodeTask{}
	}
	return nil
}

// Decode decodes the one manifest in data, which must be of one of kinds.
// It returns every problem it finds; the document is nil when its kind
// cannot be known (bad YAML, missing or unexpected kind), else it is
// decoded as far as it goes, so that later checks can run too.
func Decode(file string, data []byte, kinds ...string) (*Document, Problems) {
	fail := func(line, col int, format string, args ...any) (*Document, Problems) {
		return nil, Problems{{File: file, Line: line, Column: col, Severity: Error, Message: fmt.Sprintf(format, args...)}}
	}
	if len(data) > MaxManifestSize {
		return fail(0, 0, "file is %d bytes, more than the %d allowed", len(data), MaxManifestSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return fail(0, 0, "file is empty; expected one %s manifest", strings.Join(kinds, " or "))
		}
		return yamlProblem(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return fail(extra.Line, extra.Column, "more than one YAML document; a manifest file holds exactly one")
	} else if !errors.Is(err, io.EOF) {
		return yamlProblem(file, err)
	}
	top := &root
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	if top.Kind != yaml.MappingNode {
		return fail(top.Line, top.Column, "expected a mapping with apiVersion and kind, got %s", describe(top))
	}
	kind, kindNode := scalarField(top, "kind")
	apiVersion, apiNode := scalarField(top, "apiVersion")
	switch {
	case kindNode == nil:
		return fail(top.Line, top.Column, "kind is missing; expected %s", strings.Join(kinds, " or "))
	case !slices.Contains(kinds, kind):
		return fail(kindNode.Line, kindNode.Column, "kind: %q is not expected here; expected %s", kind, strings.Join(kinds, " or "))
	case apiNode == nil:
		return fail(top.Line, top.Column, "apiVersion is missing; expected %s", v1.APIVersion)
	case apiVersion != v1.APIVersion:
		return fail(apiNode.Line, apiNode.Column, "apiVersion: %q is not supported; expected %s", apiVersion, v1.APIVersion)
	}
	obj := NewObject(kind)
	if obj == nil {
		return fail(kindNode.Line, kindNode.Column, "kind: %q has no manifest form", kind)
	}
	d := &decoder{doc: &Document{File: file, Kind: kind, Object: obj, fields: map[string]Position{}}}
	d.value(top, reflect.ValueOf(obj).Elem(), "")
	return d.doc, d.problems
}

func yamlProblem(file string, err error) (*Document, Problems) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{File: file, Severity: Error, Message: msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(n); err == nil {
				p.Line, p.Message = line, tail
			}
		}
	}
	return nil, Problems{p}
}

func scalarField(m *yaml.Node, key string) (string, *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.ScalarNode {
			return m.Content[i+1].Value, m.Content[i+1]
		}
	}
	return "", nil
}

type decoder struct {
	doc      *Document
	problems Problems
	nodes    int
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.doc.File, Line: n.Line, Column: n.Column, Field: path, Severity: Error, Message: fmt.Sprintf(format, args...)})
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// value decodes node n into v, whose field path is path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if d.nodes++; d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.fail(n, path, "document expands to more than %d nodes", maxNodes)
		}
		return
	}
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if v.Kind() != reflect.Pointer && v.CanAddr() && v.Addr().Type().Implements(jsonUnmarshaler) {
		d.unmarshalJSON(n, v.Addr().Interface().(json.Unmarshaler), path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), path)
	case reflect.Struct:
		d.object(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "expected a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.doc.fields[p] = Position{item.Line, item.Column}
			d.value(item, s.Index(i), p)
		}
		v.Set(s)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			d.fail(n, path, "expected a string, got %s%s", describe(n), quoteHint(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
			d.fail(n, path, "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
			d.fail(n, path, "expected a whole number, got %s", describe(n))
			return
		}
		if v.OverflowInt(i) {
			d.fail(n, path, "%d is out of range", i)
			return
		}
		v.SetInt(i)
	default:
		d.fail(n, path, "cannot decode into %s", v.Type())
	}
}

// object decodes a mapping into a struct by the fields' JSON names.
func (d *decoder) object(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := joinPath(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "a key must be a plain string, got %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(k, p, "duplicate key %q (first at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		f, ok := fields[k.Value]
		if !ok {
			d.fail(k, p, "unknown field%s", suggest(k.Value, fields))
			continue
		}
		d.doc.fields[p] = Position{k.Line, k.Column}
		d.value(val, v.FieldByIndex(f), p)
	}
}

// mapping decodes a mapping into a map with string keys.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.fail(n, path, "cannot decode into %s", v.Type())
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "a key must be a plain string, got %s", describe(k))
			continue
		}
		p := joinPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.fail(k, p, "duplicate key %q (first at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		d.doc.fields[p] = Position{k.Line, k.Column}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.value(val, elem, p)
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
	}
	v.Set(m)
}

// unmarshalJSON hands a node to a type's own JSON decoding (durations,
// times), reporting its error at the node.
func (d *decoder) unmarshalJSON(n *yaml.Node, u json.Unmarshaler, path string) {
	var raw any
	if err := n.Decode(&raw); err != nil {
		d.fail(n, path, "%v", err)
		return
	}
	data, err := json.Marshal(raw)
	if err != nil {
		d.fail(n, path, "cannot be represented as JSON: %v", err)
		return
	}
	if err := u.UnmarshalJSON(data); err != nil {
		msg := err.Error()
		if strings.Contains(msg, "time: ") {
			msg = fmt.Sprintf("%s is not a duration such as 90s, 5m or 1h30m", describe(n))
		}
		d.fail(n, path, "%s", msg)
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names what a node is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		kind := map[string]string{"!!int": "a number", "!!float": "a number", "!!bool": "a boolean", "!!str": "a string", "!!null": "null"}[n.Tag]
		if kind == "" {
			kind = "a value"
		}
		return fmt.Sprintf("%s %q", kind, clip(n.Value))
	}
	return "nothing"
}

func quoteHint(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!str" {
		return "; quote it to make it a string"
	}
	return ""
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

var fieldCache sync.Map // reflect.Type -> map[string][]int

// fieldsOf maps JSON names to field indexes, flattening inline and
// embedded structs the way encoding/json does.
func fieldsOf(t reflect.Type) map[string][]int {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string][]int)
	}
	m := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if (f.Anonymous && name == "") || strings.Contains(","+opts+",", ",inline,") {
			for k, idx := range fieldsOf(f.Type) {
				m[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = []int{i}
	}
	fieldCache.Store(t, m)
	return m
}

// suggest offers the known field closest to an unknown one.
func suggest(name string, fields map[string][]int) string {
	best, bestDist := "", 3
	for k := range fields {
		if dist := editDistance(strings.ToLower(name), strings.ToLower(k)); dist < bestDist || (dist == bestDist && best != "" && k < best) {
			best, bestDist = k, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
