package render

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/nodewright/nodewright/schema/example"
	"github.com/nodewright/nodewright/schema/manifest"
	"github.com/nodewright/nodewright/test/harness"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestRenderedProfilesMatchGoldenFiles(t *testing.T) {
	tree := NewTree(example.Files())
	for _, site := range tree.Sites() {
		t.Run(site, func(t *testing.T) {
			doc, problems := tree.Profile(site)
			require.Empty(t, problems)
			got, err := yaml.Marshal(doc.Object)
			require.NoError(t, err)
			golden := filepath.Join("testdata", site+".profile.golden.yaml")
			if *update {
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./schema/render -update to create it")
			assert.Equal(t, string(want), string(got))
		})
	}
}

func withFiles(extra map[string]string) *Tree {
	files := example.Files()
	for p, c := range extra {
		if c == "" {
			delete(files, p)
			continue
		}
		files[p] = []byte(c)
	}
	return NewTree(files)
}

func TestRenderProblems(t *testing.T) {
	const k = "sites/edge-001/kustomization.yaml"
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no kustomization", map[string]string{k: ""}, "sites/edge-001: has no kustomization.yaml; a site renders its EdgeProfile from one"},
		{"remote base", map[string]string{k: "resources:\n  - github.com/example/fleet//bases?ref=main\n"}, `sites/edge-001/kustomization.yaml: resources[0]: "github.com/example/fleet//bases?ref=main" is remote; a fleet repository must be self-contained, so everything it renders is signed`},
		{"https base", map[string]string{k: "resources:\n  - https://example.test/base.yaml\n"}, `is remote`},
		{"helm chart", map[string]string{k: "helmCharts:\n  - name: x\n"}, "sites/edge-001/kustomization.yaml: helmCharts: is not allowed: rendering must not run programs or fetch charts"},
		{"another site's files", map[string]string{k: "resources:\n  - ../edge-002\n"}, "sites/edge-001/kustomization.yaml: kustomize:"},
		{"renders an operation", map[string]string{k: "resources:\n  - ../../bases/edge-profile\n  - operations-copy.yaml\n", "sites/edge-001/operations-copy.yaml": "apiVersion: nodewright.io/v1alpha1\nkind: ReplicationUpgrade\nmetadata: {name: r}\n"}, `renders ReplicationUpgrade "r"; a site's kustomization renders only its EdgeProfile`},
		{"no profile", map[string]string{k: "resources: []\n"}, "renders no EdgeProfile; a site has exactly one"},
		{"two profiles", map[string]string{k: "resources:\n  - ../../bases/edge-profile\n  - second.yaml\n", "sites/edge-001/second.yaml": "apiVersion: nodewright.io/v1alpha1\nkind: EdgeProfile\nmetadata: {name: second}\nspec: {site: edge-001}\n"}, "renders more than one EdgeProfile"},
		{"unknown field in base", map[string]string{"bases/edge-profile/profile.yaml": strings.Replace(string(example.Files()["bases/edge-profile/profile.yaml"]), "  clusterName: base", "  clustername: base", 1)}, `bases/edge-profile/profile.yaml:9:3: spec.clustername: unknown field; did you mean "clusterName"?`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, problems := withFiles(c.files).Profile("edge-001")
			require.NotEmpty(t, problems)
			assert.Contains(t, problems.Error(), c.want)
			for _, p := range problems {
				assert.Equal(t, manifest.Error, p.Severity)
			}
		})
	}
}

func TestProfileProblemsPointAtTheirSource(t *testing.T) {
	base := string(example.Files()["bases/edge-profile/profile.yaml"])
	tree := withFiles(map[string]string{
		"bases/edge-profile/profile.yaml":   strings.Replace(base, "placeCount: 3}", "placeCount: 4}", 1),
		"sites/edge-001/kustomization.yaml": strings.Replace(string(example.Files()["sites/edge-001/kustomization.yaml"]), "value: Europe/Berlin", "value: Europe/Berln", 1),
	})
	doc, problems := tree.Profile("edge-001")
	require.Empty(t, problems)
	p := doc.Problem(manifest.Error, "spec.resourceGroups[1].placeCount", "x")
	assert.Equal(t, "bases/edge-profile/profile.yaml:25:46", fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column), "a value from the base points at the base")
	p = doc.Problem(manifest.Error, "spec.maintenanceWindows[0].timeZone", "x")
	assert.Equal(t, "sites/edge-001/kustomization.yaml:11:29", fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column), "a patched value points at its patch")
	assert.Equal(t, "/spec/nodes/0/bonds/1/name", pointer("spec.nodes[0].bonds[1].name"))
}

func TestTreeFromCommitMatchesWorkingTree(t *testing.T) {
	r := harness.NewRepo(t)
	for p, data := range example.Files() {
		r.Write(p, string(data))
	}
	r.Write("README.md", "not part of the tree\n")
	r.Commit("example", nil)
	r.Write("sites/edge-001/operations/new.yaml", "uncommitted\n")

	fromDir, err := FromDir(r.Dir)
	require.NoError(t, err)
	repo, err := git.PlainOpen(r.Dir)
	require.NoError(t, err)
	fromCommit, err := FromCommit(repo, "HEAD")
	require.NoError(t, err)
	assert.Equal(t, NewTree(example.Files()).files, fromCommit.files)
	assert.Len(t, fromDir.files, len(fromCommit.files)+1, "the working tree includes the uncommitted file")
	_, err = FromCommit(repo, "no-such-branch")
	assert.ErrorContains(t, err, `revision "no-such-branch"`)
}

func FuzzRender(f *testing.F) {
	f.Add([]byte("resources:\n  - ../../bases/edge-profile\n"), []byte("apiVersion: nodewright.io/v1alpha1\nkind: EdgeProfile\nmetadata: {name: p}\nspec: {site: s}\n"))
	f.Add([]byte("patches:\n  - target: {kind: EdgeProfile}\n    patch: '[{op: remove, path: /spec}]'\nresources: [p.yaml]\n"), []byte("kind: EdgeProfile\n"))
	f.Fuzz(func(t *testing.T, kustomization, profile []byte) {
		tree := NewTree(map[string][]byte{
			"sites/s/kustomization.yaml":            kustomization,
			"sites/s/p.yaml":                        profile,
			"bases/edge-profile/kustomization.yaml": []byte("resources: [p.yaml]\n"),
			"bases/edge-profile/p.yaml":             profile,
		})
		doc, problems := tree.Profile("s")
		if doc == nil && len(problems) == 0 {
			t.Fatal("no profile and no problem")
		}
		for _, p := range problems {
			if !strings.HasPrefix(p.File, "sites/s") && !strings.HasPrefix(p.File, "bases/") {
				t.Fatalf("problem names no file of the site: %+v", p)
			}
		}
	})
}
