package yamlfile

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

type key struct {
	SSH     string `json:"ssh" yaml:"ssh"`
	Revoked bool   `json:"revoked" yaml:"revoked"`
}

type cluster struct {
	Name string `json:"name" yaml:"name"`
	Keys []key  `json:"keys" yaml:"keys"`
	Size *int   `json:"size" yaml:"size"`
}

type meta struct {
	Labels map[string]string `json:"labels" yaml:"labels"`
}

type fleet struct {
	meta     `json:",inline" yaml:",inline"`
	Clusters []cluster          `json:"clusters" yaml:"clusters"`
	Ratio    float64            `json:"ratio" yaml:"ratio"`
	Port     uint16             `json:"port" yaml:"port"`
	Limits   map[string]int32   `json:"limits" yaml:"limits"`
	Extra    map[string]cluster `json:"extra" yaml:"extra"`
}

func TestErrorFormat(t *testing.T) {
	for _, c := range []struct {
		e    Error
		want string
	}{
		{Error{File: "f.yaml", Line: 3, Column: 7, Field: "a.b", Message: "m"}, "f.yaml:3:7: a.b: m"},
		{Error{File: "f.yaml", Line: 3, Field: "a.b", Message: "m"}, "f.yaml:3: a.b: m"},
		{Error{File: "f.yaml", Line: 3, Message: "m"}, "f.yaml:3: m"},
		{Error{File: "f.yaml", Column: 4, Message: "m"}, "f.yaml: m"},
		{Error{File: "f.yaml", Field: "x", Message: "m"}, "f.yaml: x: m"},
	} {
		assert.Equal(t, c.want, c.e.Error())
	}
	errs := Errors{{File: "b", Line: 2, Message: "two"}, {File: "a", Message: "one"}}
	assert.Equal(t, "b:2: two\na: one", errs.Error())
	errs.Sort()
	assert.Equal(t, "a", errs[0].File)
	var e *Error
	require.ErrorAs(t, error(errs), &e, "errors.As finds an *Error in a list")
	assert.Equal(t, "a", e.File)
	assert.NoError(t, Errors(nil).Err())
}

func TestPath(t *testing.T) {
	p := Join(Index(Join(Index("clusters", 2), "keys"), 0), "ssh")
	assert.Equal(t, "clusters[2].keys[0].ssh", p)
	var up []string
	for ; p != ""; p = Parent(p) {
		up = append(up, p)
	}
	assert.Equal(t, []string{"clusters[2].keys[0].ssh", "clusters[2].keys[0]", "clusters[2].keys", "clusters[2]", "clusters"}, up)
}

func TestParse(t *testing.T) {
	o := Options{MaxSize: 64, Empty: "file is empty; expected a fleet", Second: "more than one YAML document; a fleet file holds exactly one"}
	for _, c := range []struct{ name, in, want string }{
		{"too large", strings.Repeat("#", 65), "f.yaml: file is 65 bytes, more than the 64 allowed"},
		{"empty", "", "f.yaml: file is empty; expected a fleet"},
		{"comments only", "# nothing\n", "f.yaml: file is empty; expected a fleet"},
		{"second document", "a: 1\n---\nb: 2\n", "f.yaml:2:1: more than one YAML document; a fleet file holds exactly one"},
		{"syntax", "a: [\n", "f.yaml:1: did not find expected node content"},
		{"syntax in the second document", "a: 1\n---\n[\n", "f.yaml:3: did not find expected node content"},
		{"anchor", "a: &x 1\nb: *x\n", "f.yaml:1:4: YAML anchors and aliases are not allowed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(c.in), o)
			assert.EqualError(t, err, c.want)
		})
	}
	root, err := Parse("f.yaml", nil, Options{})
	assert.NoError(t, err, "without Empty, no document is fine")
	assert.Nil(t, root)
	root, err = Parse("f.yaml", []byte("a: &x 1\nb: *x\n"), Options{Aliases: true})
	require.NoError(t, err)
	assert.Equal(t, yaml.MappingNode, root.Kind)
	_, err = Parse("f.yaml", []byte("a: &x 1\n---\nb: 2\n"), Options{YAMLv3: true})
	assert.EqualError(t, err, "f.yaml:2: more than one YAML document", "YAMLv3 locates by line only")

	docs, err := Documents("f.yaml", []byte("a: 1\n---\nb: 2\n---\nc: 3\n"), 0)
	require.NoError(t, err)
	assert.Len(t, docs, 3)
}

func TestDecodeStrict(t *testing.T) {
	const good = `labels: {team: net}
clusters:
  - name: edge-1
    size: 3
    keys:
      - ssh: ssh-ed25519 AAAA
        revoked: true
ratio: 0.5
port: 8080
limits: {cpu: 4}
`
	var f fleet
	visited := map[string]int{}
	_, err := Decode("f.yaml", []byte(good), &f, Options{Visit: func(path string, n *yaml.Node) { visited[path] = n.Line }})
	require.NoError(t, err)
	assert.Equal(t, "net", f.Labels["team"])
	assert.Equal(t, "ssh-ed25519 AAAA", f.Clusters[0].Keys[0].SSH)
	assert.Equal(t, 3, *f.Clusters[0].Size)
	assert.InDelta(t, 0.5, f.Ratio, 0)
	assert.Equal(t, uint16(8080), f.Port)
	assert.Equal(t, int32(4), f.Limits["cpu"])
	assert.Equal(t, 6, visited["clusters[0].keys[0]"])
	assert.Equal(t, 6, visited["clusters[0].keys[0].ssh"])
	assert.Equal(t, 1, visited["labels.team"])

	for _, c := range []struct{ name, in, want string }{
		{"unknown field", "clusters:\n  - name: a\n    kyes: []\n", `f.yaml:3:5: clusters[0].kyes: unknown field; did you mean "keys"?`},
		{"deep path", "clusters:\n  - {name: a}\n  - {name: b}\n  - name: c\n    keys:\n      - ssh: 42\n", `f.yaml:6:14: clusters[2].keys[0].ssh: expected a string, got a number "42"; quote it to make it a string`},
		{"duplicate key", "ratio: 1\nratio: 2\n", `f.yaml:2:1: ratio: duplicate key "ratio" (first at line 1)`},
		{"duplicate map key", "limits: {a: 1, a: 2}\n", `f.yaml:1:16: limits.a: duplicate key "a" (first at line 1)`},
		{"list expected", "clusters: {name: a}\n", `f.yaml:1:11: clusters: expected a list, got a mapping`},
		{"mapping expected", "clusters: [x]\n", `f.yaml:1:12: clusters[0]: expected a mapping, got a string "x"`},
		{"bool expected", "clusters: [{keys: [{revoked: yes}]}]\n", `f.yaml:1:30: clusters[0].keys[0].revoked: expected true or false, got a string "yes"`},
		{"number expected", "ratio: half\n", `f.yaml:1:8: ratio: expected a number, got a string "half"`},
		{"out of range", "port: 70000\n", `f.yaml:1:7: port: 70000 is out of range`},
		{"negative unsigned", "port: -1\n", `f.yaml:1:7: port: -1 is out of range`},
		{"int32 overflow", "limits: {cpu: 4294967296}\n", `f.yaml:1:15: limits.cpu: 4294967296 is out of range`},
		{"key not a string", "limits: {[a]: 1}\n", `f.yaml:1:10: limits: a key must be a plain string, got a list`},
		{"alias", "ratio: &r 1\nport: *r\n", `f.yaml:1:8: YAML anchors and aliases are not allowed`},
		{"merge key is not special", "<<: {ratio: 1}\n", `f.yaml:1:1: <<: unknown field`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var f fleet
			_, err := Decode("f.yaml", []byte(c.in), &f, Options{})
			assert.EqualError(t, err, c.want)
		})
	}

	_, err = Decode("f.yaml", []byte("ratio: x\nport: y\nnope: 1\n"), &f, Options{})
	var errs Errors
	require.ErrorAs(t, err, &errs)
	assert.Len(t, errs, 3, "every problem is reported, in document order")
}

func TestDecodeAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 8; i++ {
		b.WriteString(strings.NewReplacer("N", string(rune('0'+i)), "P", string(rune('0'+i-1))).Replace("aN: &aN [*aP, *aP, *aP, *aP, *aP, *aP, *aP, *aP, *aP, *aP]\n"))
	}
	var v map[string]any
	_, err := Decode("f.yaml", []byte(b.String()), &v, Options{Aliases: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "document expands to more than 100000 nodes")
}

func TestDecodeYAMLv3(t *testing.T) {
	o := Options{Tag: "yaml", YAMLv3: true, Aliases: true}
	var f fleet
	_, err := Decode("f.yaml", []byte("clusters:\n  - name: 42\n    size: 3.0\n    keys: [{revoked: yes}]\n"), &f, o)
	require.NoError(t, err)
	assert.Equal(t, "42", f.Clusters[0].Name, "any scalar decodes into a string")
	assert.Equal(t, 3, *f.Clusters[0].Size)
	assert.True(t, f.Clusters[0].Keys[0].Revoked)

	var m fleet
	_, err = Decode("f.yaml", []byte("base: &b {name: a, size: 1}\n"), &struct {
		Base cluster `yaml:"base"`
	}{}, o)
	require.NoError(t, err)
	_, err = Decode("f.yaml", []byte("extra:\n  x: &b {name: a, size: 1}\n  y: {<<: *b, name: b}\n"), &m, o)
	require.NoError(t, err)
	assert.Equal(t, "b", m.Extra["y"].Name, "an explicit key wins over a merged one")
	assert.Equal(t, 1, *m.Extra["y"].Size)

	for _, c := range []struct{ name, in, want string }{
		{"unknown field", "clusters:\n  - name: a\n    kyes: []\n", `f.yaml:3: field kyes not found in type yamlfile.cluster; did you mean "keys"?`},
		{"duplicate key", "ratio: 1\nratio: 2\n", `f.yaml:2: mapping key "ratio" already defined at line 1`},
		{"wrong type", "clusters: {name: x}\n", "f.yaml:1: cannot unmarshal !!map into []yamlfile.cluster"},
		{"wrong scalar", "port: eighty-eighty\n", "f.yaml:1: cannot unmarshal !!str `eighty-...` into uint16"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var f fleet
			_, err := Decode("f.yaml", []byte(c.in), &f, o)
			assert.EqualError(t, err, c.want)
		})
	}
}

// lineBound is an upper bound of the lines of data whatever counts as a
// line break.
func lineBound(data []byte) int {
	return 1 + bytes.Count(data, []byte{'\n'}) + bytes.Count(data, []byte{'\r'}) + bytes.Count(data, []byte{0x85}) +
		strings.Count(string(data), "\u2028") + strings.Count(string(data), "\u2029")
}

// FuzzDecode feeds arbitrary documents to both readings: neither may
// panic, every problem names the file and a line within the input (a
// problem of the decoded document always has one), and the YAMLv3 reading
// accepts exactly what yaml.v3's own strict decoder accepts, with the same
// result.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("labels: {team: net}\nclusters:\n  - name: edge-1\n    keys: [{ssh: k, revoked: true}]\nratio: 0.5\nport: 8080\n"))
	f.Add([]byte("clusters: {name: x}\nratio: [1]\nport: -1\nlimits: {a: 1, a: 2}\n"))
	f.Add([]byte("extra:\n  x: {name: a, size: 1}\n  y: {<<: {size: 2}, name: b}\n"))
	f.Add([]byte("a: &a [x, *a]\n---\nb: 1\n"))
	f.Add([]byte("clusters: [~, {name: ~, keys: [~]}]\nport: 0x1F\nratio: .inf\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := lineBound(data)
		check := func(err error, decoded bool) {
			if err == nil {
				return
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is not an Errors: %T %v", err, err)
			}
			for _, e := range errs {
				if e.File != "fuzz.yaml" || e.Message == "" {
					t.Fatalf("problem without file or message: %+v", e)
				}
				if e.Line < 0 || e.Line > lines || e.Column < 0 || (e.Line == 0 && e.Column != 0) {
					t.Fatalf("problem outside the input's %d lines: %+v", lines, e)
				}
				if decoded && e.Line == 0 {
					t.Fatalf("problem of the decoded document without a line: %+v", e)
				}
			}
		}
		for _, o := range []Options{{Aliases: true}, {}, {Tag: "yaml", YAMLv3: true, Aliases: true}} {
			root, err := Parse("fuzz.yaml", data, o)
			check(err, false)
			if err != nil || root == nil {
				continue
			}
			var v fleet
			check(DecodeNode("fuzz.yaml", root, &v, o).Err(), true)
			var a any
			check(DecodeNode("fuzz.yaml", root, &a, o).Err(), true)
		}

		// The YAMLv3 reading is yaml.v3's: compare on a first document
		// without aliases (whose expansion the two bound differently).
		docs, err := documents("fuzz.yaml", data, 0, 1)
		if err != nil || len(docs) == 0 || firstAlias(docs[0]) != nil {
			return
		}
		var mine, theirs fleet
		errMine := DecodeNode("fuzz.yaml", docs[0], &mine, Options{Tag: "yaml", YAMLv3: true}).Err()
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		errTheirs := dec.Decode(&theirs)
		if (errMine == nil) != (errTheirs == nil) {
			t.Fatalf("YAMLv3 reading: %v; yaml.v3: %v", errMine, errTheirs)
		}
		if errMine == nil && !reflect.DeepEqual(mine, theirs) {
			t.Fatalf("YAMLv3 reading decodes\n%#v\nyaml.v3 decodes\n%#v", mine, theirs)
		}
	})
}
