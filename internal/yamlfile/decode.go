package yamlfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()
)

// DecodeNode decodes n, a node of file (usually Parse's root), into out,
// a non-nil pointer. Fields are matched by name exactly (see
// Options.Tag); unknown fields, duplicate keys, values of the wrong type
// and numbers out of range are problems, each located at its node with
// its field path, and so is a document that expands (through aliases) to
// more than 100000 nodes. Types that implement json.Unmarshaler (with
// json tags) decode themselves from the node's JSON form, and with
// Options.YAMLv3 yaml.Unmarshaler types decode themselves. It returns
// every problem, in document order; out holds what could be decoded.
func DecodeNode(file string, n *yaml.Node, out any, o Options) Errors {
	v := reflect.ValueOf(out)
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		return Errors{{File: file, Message: fmt.Sprintf("cannot decode into %T", out)}}
	}
	if n != nil && n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	if n == nil {
		return nil
	}
	d := &decoder{file: file, o: o, tag: o.Tag}
	if d.tag == "" {
		d.tag = "json"
	}
	d.value(n, v.Elem(), "")
	if o.YAMLv3 {
		for _, e := range d.errs {
			e.Column, e.Field = 0, ""
		}
	}
	return d.errs
}

type decoder struct {
	file  string
	o     Options
	tag   string
	errs  Errors
	nodes int
	// expanding holds the anchored nodes whose aliases are being decoded,
	// to refuse an anchor that contains an alias of itself.
	expanding map[*yaml.Node]bool
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, At(d.file, n, path, format, args...))
}

func (d *decoder) visit(path string, n *yaml.Node) {
	if d.o.Visit != nil {
		d.o.Visit(path, n)
	}
}

// enter counts n towards the node bound and resolves an alias to the
// node it names; it reports false when n is not to be decoded. The caller
// calls leave with the node it entered once done with it.
func (d *decoder) enter(n *yaml.Node, path string) (*yaml.Node, bool) {
	if d.nodes++; d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.fail(n, path, "document expands to more than %d nodes", maxNodes)
		}
		return nil, false
	}
	if n.Kind != yaml.AliasNode {
		return n, true
	}
	if !d.o.Aliases {
		d.fail(n, path, "YAML anchors and aliases are not allowed")
		return nil, false
	}
	if n.Alias == nil {
		d.fail(n, path, "alias %q names no anchor", n.Value)
		return nil, false
	}
	if d.expanding[n.Alias] {
		d.fail(n, path, "anchor %q contains an alias of itself", n.Value)
		return nil, false
	}
	if d.expanding == nil {
		d.expanding = map[*yaml.Node]bool{}
	}
	d.expanding[n.Alias] = true
	return n.Alias, true
}

// leave ends the decoding of n, returned by enter.
func (d *decoder) leave(n *yaml.Node) {
	if d.expanding[n] {
		delete(d.expanding, n)
	}
}

// value decodes node n into v, whose field path is path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	n, ok := d.enter(n, path)
	if !ok {
		return
	}
	defer d.leave(n)
	if d.o.YAMLv3 {
		d.v3value(n, v, path)
		return
	}
	d.strict(n, v, path)
}

// strict decodes n into v by the strict rules.
func (d *decoder) strict(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if d.tag == "json" && v.Kind() != reflect.Pointer && v.CanAddr() && v.Addr().Type().Implements(jsonUnmarshaler) {
		d.unmarshalJSON(n, v.Addr().Interface().(json.Unmarshaler), path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.strict(n, v.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "expected a mapping, got %s", Describe(n))
			return
		}
		d.object(n, v, path, nil)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "expected a mapping, got %s", Describe(n))
			return
		}
		d.mapping(n, v, path, nil)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "expected a list, got %s", Describe(n))
			return
		}
		d.list(n, v, path)
	case reflect.Interface:
		d.any(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			d.fail(n, path, "expected a string, got %s%s", Describe(n), quoteHint(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
			d.fail(n, path, "expected true or false, got %s", Describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			d.fail(n, path, "expected a whole number, got %s", Describe(n))
			return
		}
		if n.Decode(&i) != nil || v.OverflowInt(i) {
			d.fail(n, path, "%s is out of range", clip(n.Value))
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var u uint64
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			d.fail(n, path, "expected a whole number, got %s", Describe(n))
			return
		}
		if n.Decode(&u) != nil || v.OverflowUint(u) {
			d.fail(n, path, "%s is out of range", clip(n.Value))
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		var f float64
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&f) != nil {
			d.fail(n, path, "expected a number, got %s", Describe(n))
			return
		}
		if v.OverflowFloat(f) {
			d.fail(n, path, "%s is out of range", clip(n.Value))
			return
		}
		v.SetFloat(f)
	default:
		d.fail(n, path, "cannot decode into %s", v.Type())
	}
}

// v3value decodes n into v as yaml.v3's decoder does.
func (d *decoder) v3value(n *yaml.Node, v reflect.Value, path string) {
	if v.CanAddr() && v.Addr().Type().Implements(yamlUnmarshaler) {
		d.v3decode(n, v, path)
		return
	}
	if n.Kind == yaml.ScalarNode {
		d.v3decode(n, v, path)
		return
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
		if v.Addr().Type().Implements(yamlUnmarshaler) {
			d.v3decode(n, v, path)
			return
		}
	}
	switch n.Kind {
	case yaml.MappingNode:
		if d.v3duplicates(n, path) {
			return
		}
		switch v.Kind() {
		case reflect.Struct:
			d.object(n, v, path, nil)
		case reflect.Map:
			d.mapping(n, v, path, nil)
		case reflect.Interface:
			d.any(n, v, path)
		default:
			d.v3typeError(n, v, path)
		}
	case yaml.SequenceNode:
		switch v.Kind() {
		case reflect.Slice:
			d.list(n, v, path)
		case reflect.Interface:
			d.any(n, v, path)
		default:
			d.v3typeError(n, v, path)
		}
	default:
		d.v3typeError(n, v, path)
	}
}

// v3decode hands n to yaml.v3 itself: a scalar, or a value that decodes
// itself.
func (d *decoder) v3decode(n *yaml.Node, v reflect.Value, path string) {
	err := n.Decode(v.Addr().Interface())
	if err == nil {
		return
	}
	var te *yaml.TypeError
	if errors.As(err, &te) && n.Kind == yaml.ScalarNode {
		d.v3typeError(n, v, path)
		return
	}
	d.fail(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
}

// v3typeError reports that n does not decode into v, worded as yaml.v3
// words it.
func (d *decoder) v3typeError(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tag := n.Tag
	if tag == "" {
		tag = n.ShortTag()
	}
	value := ""
	if tag != "!!seq" && tag != "!!map" {
		s := n.Value
		if len(s) > 10 {
			s = strings.ToValidUTF8(s[:7], "") + "..."
		}
		value = " `" + s + "`"
	}
	d.fail(n, path, "cannot unmarshal %s%s into %s", tag, value, t)
}

// v3duplicates reports each key of mapping n that repeats an earlier one,
// as yaml.v3 does before it decodes a mapping, and whether there was one.
func (d *decoder) v3duplicates(n *yaml.Node, path string) bool {
	type key struct {
		kind  yaml.Kind
		value string
	}
	first := map[key]int{}
	found := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		kk := key{k.Kind, k.Value}
		if line, dup := first[kk]; dup {
			d.fail(k, Join(path, k.Value), "mapping key %q already defined at line %d", k.Value, line)
			found = true
			continue
		}
		first[kk] = k.Line
	}
	return found
}

// entries calls fn with each key of mapping n (as a string), its key and
// value nodes and its field path. Strictly, keys must be scalars and
// appear once. With YAMLv3, duplicates were refused before, a merge key
// (<<) merges the mappings it names through into, keys in merged (those
// an enclosing mapping sets) are skipped, and null keys are ignored.
func (d *decoder) entries(n *yaml.Node, path string, merged map[string]bool, fn func(key string, k, val *yaml.Node, p string), into func(m *yaml.Node, merged map[string]bool)) {
	if !d.o.YAMLv3 {
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				d.fail(k, path, "a key must be a plain string, got %s", Describe(k))
				continue
			}
			p := Join(path, k.Value)
			if first, dup := seen[k.Value]; dup {
				d.fail(k, p, "duplicate key %q (first at line %d)", k.Value, first)
				continue
			}
			seen[k.Value] = k.Line
			fn(k.Value, k, val, p)
		}
		return
	}
	var merge *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if isMerge(k) {
			merge = val
			continue
		}
		key, ok := d.v3key(k, path)
		if !ok {
			continue
		}
		if merged != nil {
			if merged[key] {
				continue
			}
			merged[key] = true
		}
		fn(key, k, val, Join(path, key))
	}
	if merge == nil {
		return
	}
	if merged == nil {
		merged = map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; !isMerge(k) && k.Kind == yaml.ScalarNode {
				merged[k.Value] = true
			}
		}
	}
	m, ok := d.enter(merge, path)
	if !ok {
		return
	}
	defer d.leave(m)
	if m.Kind != yaml.SequenceNode {
		d.mergeOne(m, path, merged, into)
		return
	}
	for _, item := range m.Content {
		if item, ok := d.enter(item, path); ok {
			d.mergeOne(item, path, merged, into)
			d.leave(item)
		}
	}
}

func (d *decoder) mergeOne(m *yaml.Node, path string, merged map[string]bool, into func(m *yaml.Node, merged map[string]bool)) {
	if m.Kind != yaml.MappingNode {
		d.fail(m, path, "map merge requires map or sequence of maps as the value")
		return
	}
	if !d.v3duplicates(m, path) {
		into(m, merged)
	}
}

// v3key returns a mapping key as yaml.v3 decodes it into a string: any
// scalar is its text, a null key is skipped.
func (d *decoder) v3key(k *yaml.Node, path string) (string, bool) {
	k, ok := d.enter(k, path)
	if !ok {
		return "", false
	}
	d.leave(k)
	if k.Kind != yaml.ScalarNode {
		d.v3typeError(k, reflect.ValueOf(""), path)
		return "", false
	}
	if isNull(k) {
		return "", false
	}
	var s string
	if err := k.Decode(&s); err != nil {
		d.fail(k, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return "", false
	}
	return s, true
}

func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// object decodes mapping n into struct v by the fields' names.
func (d *decoder) object(n *yaml.Node, v reflect.Value, path string, merged map[string]bool) {
	fields := fieldsOf(v.Type(), d.tag)
	d.entries(n, path, merged, func(key string, k, val *yaml.Node, p string) {
		f, ok := fields[key]
		if !ok {
			d.unknown(k, p, key, v.Type(), fields)
			return
		}
		d.visit(p, k)
		d.value(val, v.FieldByIndex(f), p)
	}, func(m *yaml.Node, merged map[string]bool) {
		d.object(m, v, path, merged)
	})
}

func (d *decoder) unknown(k *yaml.Node, path, key string, t reflect.Type, fields map[string][]int) {
	if !d.o.YAMLv3 {
		d.fail(k, path, "unknown field%s", suggest(key, fields))
		return
	}
	in := ""
	if t.Name() != "" {
		in = " in type " + t.String()
	}
	d.fail(k, path, "field %s not found%s%s", key, in, suggest(key, fields))
}

// mapping decodes mapping n into map v, whose keys are strings.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string, merged map[string]bool) {
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.fail(n, path, "cannot decode into %s", t)
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(t, len(n.Content)/2))
	}
	d.entries(n, path, merged, func(key string, k, val *yaml.Node, p string) {
		d.visit(p, k)
		elem := reflect.New(t.Elem()).Elem()
		d.value(val, elem, p)
		v.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), elem)
	}, func(m *yaml.Node, merged map[string]bool) {
		d.mapping(m, v, path, merged)
	})
}

// list decodes sequence n into slice v. With YAMLv3 a null item is
// left out of a list of values that cannot be null, as yaml.v3 does.
func (d *decoder) list(n *yaml.Node, v reflect.Value, path string) {
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	j := 0
	for i, item := range n.Content {
		p := Index(path, i)
		if d.o.YAMLv3 && !nullable(v.Type().Elem()) {
			if r := item; isNull(r) || (r.Kind == yaml.AliasNode && r.Alias != nil && isNull(r.Alias)) {
				continue
			}
		}
		d.visit(p, item)
		d.value(item, s.Index(j), p)
		j++
	}
	v.Set(s.Slice(0, j))
}

// nullable reports whether yaml.v3 decodes null into a value of t.
func nullable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Interface, reflect.Pointer, reflect.Map, reflect.Slice:
		return true
	}
	return false
}

// any decodes n into an interface value: an empty interface gets maps
// with string keys, lists and scalars.
func (d *decoder) any(n *yaml.Node, v reflect.Value, path string) {
	if v.NumMethod() != 0 {
		d.fail(n, path, "cannot decode into %s", v.Type())
		return
	}
	if x, ok := d.generic(n, path); ok && x != nil {
		v.Set(reflect.ValueOf(x))
	} else {
		v.Set(reflect.Zero(v.Type()))
	}
}

// generic decodes n, already entered, into maps with string keys, lists
// and scalars; it reports false after a problem.
func (d *decoder) generic(n *yaml.Node, path string) (any, bool) {
	switch n.Kind {
	case yaml.MappingNode:
		if d.o.YAMLv3 && d.v3duplicates(n, path) {
			return nil, false
		}
		m := make(map[string]any, len(n.Content)/2)
		good := true
		d.entries(n, path, nil, func(key string, _, val *yaml.Node, p string) {
			x, ok := d.genericChild(val, p)
			good = good && ok
			m[key] = x
		}, func(merge *yaml.Node, merged map[string]bool) {
			// yaml.v3 merges into generic maps too.
			for i := 0; i+1 < len(merge.Content); i += 2 {
				k := merge.Content[i]
				if k.Kind != yaml.ScalarNode || merged[k.Value] || isMerge(k) {
					continue
				}
				merged[k.Value] = true
				x, ok := d.genericChild(merge.Content[i+1], Join(path, k.Value))
				good = good && ok
				m[k.Value] = x
			}
		})
		return m, good
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		good := true
		for i, item := range n.Content {
			x, ok := d.genericChild(item, Index(path, i))
			good = good && ok
			l[i] = x
		}
		return l, good
	case yaml.ScalarNode:
		var x any
		if err := n.Decode(&x); err != nil {
			d.fail(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
			return nil, false
		}
		return x, true
	}
	return nil, true
}

// genericChild enters n and decodes it with generic.
func (d *decoder) genericChild(n *yaml.Node, path string) (any, bool) {
	n, ok := d.enter(n, path)
	if !ok {
		return nil, false
	}
	defer d.leave(n)
	return d.generic(n, path)
}

// unmarshalJSON hands a node to a type's own JSON decoding (durations,
// times), reporting its error at the node.
func (d *decoder) unmarshalJSON(n *yaml.Node, u json.Unmarshaler, path string) {
	raw, ok := d.generic(n, path)
	if !ok {
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
			msg = fmt.Sprintf("%s is not a duration such as 90s, 5m or 1h30m", Describe(n))
		}
		d.fail(n, path, "%s", msg)
	}
}

// Describe names what a node holds, for "expected X, got Y" messages:
// a mapping, a list, a string "x", a number "1", a boolean "true", null.
func Describe(n *yaml.Node) string {
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
		return strings.ToValidUTF8(s[:40], "") + "..."
	}
	return s
}

type fieldKey struct {
	t   reflect.Type
	tag string
}

var fieldCache sync.Map // fieldKey -> map[string][]int

// fieldsOf maps the names of t's fields (by tag) to their indexes,
// flattening inline structs (and, for json, embedded ones) the way
// encoding/json and yaml.v3 do: a shallower field wins.
func fieldsOf(t reflect.Type, tag string) map[string][]int {
	key := fieldKey{t, tag}
	if m, ok := fieldCache.Load(key); ok {
		return m.(map[string][]int)
	}
	m := map[string][]int{}
	var inlined []map[string][]int
	var at []int
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get(tag), ",")
		if name == "-" && opts == "" {
			continue
		}
		inline := strings.Contains(","+opts+",", ",inline,") || (tag == "json" && f.Anonymous && name == "")
		if inline && f.Type.Kind() == reflect.Struct {
			inlined = append(inlined, fieldsOf(f.Type, tag))
			at = append(at, i)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
			if tag == "yaml" {
				name = strings.ToLower(name)
			}
		}
		m[name] = []int{i}
	}
	for j, sub := range inlined {
		for k, idx := range sub {
			if _, ok := m[k]; !ok {
				m[k] = append([]int{at[j]}, idx...)
			}
		}
	}
	fieldCache.Store(key, m)
	return m
}

// suggest offers the known field closest to an unknown one.
func suggest(name string, fields map[string][]int) string {
	if len(name) > 64 {
		return ""
	}
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
