package lint

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/schema/example"
	"github.com/nodewright/nodewright/schema/manifest"
	"github.com/nodewright/nodewright/schema/render"
)

func lintWith(extra map[string]string) *Report {
	files := example.Files()
	for p, c := range extra {
		files[p] = []byte(c)
	}
	return Lint(render.NewTree(files))
}

func errorLines(r *Report) []string {
	var out []string
	for _, p := range r.Problems {
		if p.Severity == manifest.Error {
			out = append(out, p.String())
		}
	}
	return out
}

func TestLintSiteRules(t *testing.T) {
	flip := string(example.Files()["sites/edge-001/operations/bond-flip.yaml"])
	rep := lintWith(map[string]string{
		"sites/edge-001/operations/bond-flip-copy.yaml": flip,
		"sites/edge-001/operations/old/flip.yaml":       flip,
	})
	assert.Equal(t, []string{
		`sites/edge-001/operations/bond-flip.yaml:6:3: metadata.name: BondModeFlipPlan "bond0-to-lacp" is already defined in sites/edge-001/operations/bond-flip-copy.yaml`,
		"sites/edge-001/operations/old/flip.yaml: is in a subfolder; operations/ is flat",
	}, errorLines(rep))
}

func TestLintReportsABaseProblemOnce(t *testing.T) {
	base := string(example.Files()["bases/edge-profile/profile.yaml"])
	rep := lintWith(map[string]string{"bases/edge-profile/profile.yaml": strings.Replace(base, "placeCount: 3}", "placeCount: 4}", 1)})
	require.Len(t, errorLines(rep), 1, "both sites share the base: %v", errorLines(rep))
	assert.Contains(t, errorLines(rep)[0], "bases/edge-profile/profile.yaml:25:46: spec.resourceGroups[1].placeCount: 4 exceeds the 3 nodes")
	assert.Equal(t, 1, rep.Sites[0].Problems.Errors(), "each site still reports it in its own result")
}

func TestLintUnknownSite(t *testing.T) {
	rep := Lint(render.NewTree(example.Files()), "edge-404")
	assert.Equal(t, []string{"sites/edge-404: no such site; the repository has: edge-001, edge-002"}, errorLines(rep))
}
