package trust

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nodewright/nodewright/internal/yamlfile"
)

// DecodeDocument decodes data, one YAML document named file in errors,
// strictly into out: a document over maxSize bytes, an empty one, YAML
// anchors or aliases, unknown fields, duplicate keys, wrong types and a
// second document are errors (Errors, located by line). what names the
// document kind in the message about a second document ("a trust
// policy"). It returns the document's root node, for locating the
// problems semantic validation finds (see Validator).
//
// It is the one strict decoder of the trust policy and the fleet's other
// signed YAML documents (fleet/clusters): yamlfile's, reading yaml tags
// with yaml.v3's conversions and wording (Options.YAMLv3), the form these
// documents' problems have always had.
func DecodeDocument(file string, data []byte, maxSize int, what string, out any) (*yaml.Node, error) {
	return yamlfile.Decode(file, data, out, yamlfile.Options{
		MaxSize: maxSize,
		Empty:   "document is empty",
		Second:  "more than one YAML document; " + what + " is exactly one",
		Tag:     "yaml",
		YAMLv3:  true,
	})
}

// Validator collects every semantic problem of one decoded document, each
// located at the line of its field.
type Validator struct {
	// File names the document.
	File string
	// Root is the document's root node, from DecodeDocument.
	Root *yaml.Node
	// Errs are the problems found so far.
	Errs Errors
}

// Add records a problem at path (field names and list indexes).
func (v *Validator) Add(path []any, format string, args ...any) {
	v.Errs = append(v.Errs, &Error{File: v.File, Line: LineOf(v.Root, path), Field: FieldPath(path), Message: fmt.Sprintf(format, args...)})
}

// FieldPath renders a path such as roles.committers.principals[1].
func FieldPath(path []any) string {
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

// ParseFieldPath is the inverse of FieldPath.
func ParseFieldPath(s string) []any {
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

// LineOf finds the line of the deepest node along path that exists.
func LineOf(n *yaml.Node, path []any) int {
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
