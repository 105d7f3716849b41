package example

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/schema/lint"
	"github.com/nodewright/nodewright/schema/manifest"
	"github.com/nodewright/nodewright/schema/render"
)

func TestExampleIsValid(t *testing.T) {
	rep := lint.Lint(render.NewTree(Files()))
	var errs manifest.Problems
	for _, p := range rep.Problems {
		if p.Severity == manifest.Error {
			errs = append(errs, p)
		}
	}
	require.Empty(t, errs, "%v", errs)
	require.Len(t, rep.Sites, 2)
	assert.Len(t, rep.Sites[0].Operations, 3, "edge-001 has one operation of each kind")
	assert.Equal(t, "edge-002", rep.Sites[1].Profile.Spec.Site)
}
