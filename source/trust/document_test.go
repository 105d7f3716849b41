package trust

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFieldPathRoundTrip(t *testing.T) {
	for _, p := range []string{"clusters", "clusters[1]", "clusters[1].keys[0].ssh", "a.b", "roles.committers.principals[1]"} {
		assert.Equal(t, p, FieldPath(ParseFieldPath(p)))
	}
}

func TestDecodeDocumentRefusesAliases(t *testing.T) {
	var v struct {
		A []int `yaml:"a"`
		B []int `yaml:"b"`
	}
	_, err := DecodeDocument("d.yaml", []byte("a: &x [1]\nb: *x\n"), 1<<10, "a document", &v)
	assert.EqualError(t, err, "d.yaml:1: YAML anchors and aliases are not allowed")
}
