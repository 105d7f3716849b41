package manifest

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nodewright/nodewright/internal/yamlfile"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// MaxManifestSize bounds one manifest file; larger files are refused unread.
const MaxManifestSize = 1 << 20

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
func ParentPath(p string) string { return yamlfile.Parent(p) }

// NewObject returns an empty object of kind, or nil for a kind this
// package does not know.
func NewObject(kind string) v1.Object {
	if k, ok := v1.LookupOperationKind(kind); ok {
		return k.New()
	}
	switch kind {
	case v1.KindEdgeProfile:
		return &v1.EdgeProfile{}
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
// decoded as far as it goes, so that later checks can run too. The
// decoding rules are yamlfile's strict ones.
func Decode(file string, data []byte, kinds ...string) (*Document, Problems) {
	fail := func(line, col int, format string, args ...any) (*Document, Problems) {
		return nil, Problems{{File: file, Line: line, Column: col, Severity: Error, Message: fmt.Sprintf(format, args...)}}
	}
	opts := yamlfile.Options{
		MaxSize: MaxManifestSize,
		Empty:   fmt.Sprintf("file is empty; expected one %s manifest", strings.Join(kinds, " or ")),
		Second:  "more than one YAML document; a manifest file holds exactly one",
		Aliases: true,
	}
	top, err := yamlfile.Parse(file, data, opts)
	if err != nil {
		return nil, errorProblems(err)
	}
	if top.Kind != yaml.MappingNode {
		return fail(top.Line, top.Column, "expected a mapping with apiVersion and kind, got %s", yamlfile.Describe(top))
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
	doc := &Document{File: file, Kind: kind, Object: obj, fields: map[string]Position{}}
	opts.Visit = func(path string, n *yaml.Node) { doc.fields[path] = Position{n.Line, n.Column} }
	return doc, errorProblems(yamlfile.DecodeNode(file, top, obj, opts).Err())
}

// errorProblems turns the located errors of err (yamlfile's) into
// problems of severity Error; nil for a nil err.
func errorProblems(err error) Problems {
	if err == nil {
		return nil
	}
	var errs yamlfile.Errors
	if !errors.As(err, &errs) {
		return Problems{{Severity: Error, Message: err.Error()}}
	}
	out := make(Problems, len(errs))
	for i, e := range errs {
		out[i] = ProblemOf(e, Error)
	}
	return out
}

func scalarField(m *yaml.Node, key string) (string, *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.ScalarNode {
			return m.Content[i+1].Value, m.Content[i+1]
		}
	}
	return "", nil
}
