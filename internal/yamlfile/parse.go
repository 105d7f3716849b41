package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// DefaultMaxSize is the input size limit when Options.MaxSize is 0.
const DefaultMaxSize = 1 << 20

// maxNodes bounds how many YAML nodes one document may expand to when
// decoded, so that alias bombs cost nothing.
const maxNodes = 100000

// Options says how strictly a document is read and how problems read.
type Options struct {
	// MaxSize bounds the input in bytes; larger input is refused unread.
	// 0 means DefaultMaxSize.
	MaxSize int
	// Empty is the message for input that holds no YAML document (nothing,
	// or only comments); "" accepts such input as no document, which
	// leaves the decoded value as it was.
	Empty string
	// Second is the message for a second document, reported where it
	// starts; "" means "more than one YAML document".
	Second string
	// Aliases lets the document use YAML anchors and aliases, each
	// expansion counted towards a bound on the decoded size. Without it
	// the first anchor or alias is a problem.
	Aliases bool
	// Tag is the struct tag that names fields: "json" (the default) or
	// "yaml". Fields without a name in it are named as encoding/json
	// names them for "json" and as yaml.v3 does (lower-cased) for "yaml".
	Tag string
	// YAMLv3 decodes as go.yaml.in/yaml/v3's Decoder with KnownFields
	// does, for the formats that were read with it before this package
	// and whose messages their callers match on: any scalar decodes into
	// a string, numbers and booleans convert as yaml.v3 converts them,
	// merge keys (<<) merge, and problems read "field x not found in T",
	// `mapping key "x" already defined at line N` and "cannot unmarshal
	// !!str `x` into int", each located by its line only.
	YAMLv3 bool
	// Visit, when set, is called by DecodeNode with the path and node of
	// every field (its key), map entry (its key) and list item the
	// document sets, in document order.
	Visit func(path string, n *yaml.Node)
}

func (o Options) maxSize() int {
	if o.MaxSize <= 0 {
		return DefaultMaxSize
	}
	return o.MaxSize
}

// Documents splits data, named file in problems, into its YAML
// documents (each a yaml.DocumentNode), for a format of several
// documents or one that reports a second document its own way. Input
// over maxSize bytes (0: DefaultMaxSize) and syntax errors are refused
// with an Errors holding one *Error.
func Documents(file string, data []byte, maxSize int) ([]*yaml.Node, error) {
	docs, err := documents(file, data, maxSize, -1)
	if err != nil {
		return nil, Errors{err}
	}
	return docs, nil
}

// documents reads at most limit documents (all when limit < 0).
func documents(file string, data []byte, maxSize, limit int) ([]*yaml.Node, *Error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if len(data) > maxSize {
		return nil, &Error{File: file, Message: fmt.Sprintf("file is %d bytes, more than the %d allowed", len(data), maxSize)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for limit < 0 || len(docs) < limit {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, syntaxError(file, data, err)
		}
		docs = append(docs, &doc)
	}
	return docs, nil
}

// syntaxError locates a syntax error of yaml.v3 ("yaml: line 3: did not
// find expected node content") at its line, which is at most the last
// line of data.
func syntaxError(file string, data []byte, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: file, Message: msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(n); err == nil && line > 0 {
				e.Line, e.Message = min(line, lineCount(data)), tail
			}
		}
	}
	return e
}

// lineCount counts the lines of data as YAML does: every line break (LF, CR,
// CR LF, and in UTF-8 NEL, LS and PS) starts one more.
func lineCount(data []byte) int {
	n := 1
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '\n':
			n++
		case '\r':
			if i+1 >= len(data) || data[i+1] != '\n' {
				n++
			}
		case 0xC2, 0xE2:
			r, size := utf8.DecodeRune(data[i:])
			if r == '\u0085' || r == '\u2028' || r == '\u2029' {
				n++
				i += size - 1
			}
		}
	}
	return n
}

// Parse reads the one YAML document of data, named file in problems, and
// returns its root node (the document's content), or nil when data holds
// no document and Options.Empty allows that. It refuses input over the
// size limit, syntax errors, no document (with Options.Empty), a second
// document and, without Options.Aliases, anchors and aliases. The error
// is an Errors holding one *Error.
func Parse(file string, data []byte, o Options) (*yaml.Node, error) {
	root, err := parse(file, data, o)
	if err != nil {
		if o.YAMLv3 {
			err.Column, err.Field = 0, ""
		}
		return nil, Errors{err}
	}
	return root, nil
}

func parse(file string, data []byte, o Options) (*yaml.Node, *Error) {
	docs, err := documents(file, data, o.maxSize(), 2)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		if o.Empty != "" {
			return nil, &Error{File: file, Message: o.Empty}
		}
		return nil, nil
	}
	if len(docs) > 1 {
		msg := o.Second
		if msg == "" {
			msg = "more than one YAML document"
		}
		return nil, At(file, docs[1], "", "%s", msg)
	}
	root := docs[0]
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if !o.Aliases {
		if n := firstAlias(root); n != nil {
			return nil, At(file, n, "", "YAML anchors and aliases are not allowed")
		}
	}
	return root, nil
}

// firstAlias returns the first alias or anchored node in n, or nil.
func firstAlias(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return n
	}
	for _, c := range n.Content {
		if a := firstAlias(c); a != nil {
			return a
		}
	}
	return nil
}

// Decode parses the one document of data (see Parse) and decodes it
// into out (see DecodeNode). It returns the document's root node, for
// locating the problems later checks find, and an Errors listing every
// problem, or a nil error.
func Decode(file string, data []byte, out any, o Options) (*yaml.Node, error) {
	root, err := Parse(file, data, o)
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, nil
	}
	if errs := DecodeNode(file, root, out, o); len(errs) > 0 {
		return nil, errs
	}
	return root, nil
}
