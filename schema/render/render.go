package render

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/nodewright/nodewright/internal/yamlfile"
	"github.com/nodewright/nodewright/schema/manifest"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// kustomizationNames are the file names kustomize accepts, in its order.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// Profile renders sites/<site> and decodes the one EdgeProfile it must
// produce. Problems name the site's kustomization file; positions inside
// rendered output are not shown. The document is nil when rendering or
// decoding failed.
func (t *Tree) Profile(site string) (*manifest.Document, manifest.Problems) {
	dir := "sites/" + site
	kfile := ""
	for _, n := range kustomizationNames {
		if _, ok := t.files[dir+"/"+n]; ok {
			kfile = dir + "/" + n
			break
		}
	}
	if kfile == "" {
		return nil, manifest.Problems{{File: dir, Severity: manifest.Error, Message: "has no kustomization.yaml; a site renders its EdgeProfile from one"}}
	}
	fsys := filesys.MakeFsInMemory()
	var problems manifest.Problems
	for p, data := range t.files {
		if !strings.HasPrefix(p, dir+"/") && !strings.HasPrefix(p, "bases/") {
			continue
		}
		if strings.HasPrefix(p, dir+"/operations/") {
			continue // operations are read as manifests, never rendered
		}
		if isKustomization(p) {
			problems = append(problems, checkKustomization(p, data)...)
		}
		if err := fsys.WriteFile("/"+p, data); err != nil {
			return nil, append(problems, manifest.Problem{File: p, Severity: manifest.Error, Message: err.Error()})
		}
	}
	if problems.Errors() > 0 {
		return nil, problems
	}
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsNone // sites load ../../bases; the file system holds nothing else
	opts.PluginConfig = types.DisabledPluginConfig()
	resources, err := krusty.MakeKustomizer(opts).Run(fsys, "/"+dir)
	if err != nil {
		return nil, manifest.Problems{{File: kfile, Severity: manifest.Error, Message: "kustomize: " + strings.ReplaceAll(err.Error(), "'/", "'")}}
	}
	var profile []byte
	for _, r := range resources.Resources() {
		if r.GetKind() != v1.KindEdgeProfile {
			problems = append(problems, manifest.Problem{File: kfile, Severity: manifest.Error,
				Message: fmt.Sprintf("renders %s %q; a site's kustomization renders only its EdgeProfile (operations live in %s/operations/)", r.GetKind(), r.GetName(), dir)})
			continue
		}
		if profile != nil {
			problems = append(problems, manifest.Problem{File: kfile, Severity: manifest.Error, Message: fmt.Sprintf("renders more than one EdgeProfile (also %q); a site has exactly one", r.GetName())})
			continue
		}
		if profile, err = r.AsYAML(); err != nil {
			problems = append(problems, manifest.Problem{File: kfile, Severity: manifest.Error, Message: err.Error()})
		}
	}
	if profile == nil && problems.Errors() == 0 {
		problems = append(problems, manifest.Problem{File: kfile, Severity: manifest.Error, Message: "renders no EdgeProfile; a site has exactly one"})
	}
	if problems.Errors() > 0 {
		return nil, problems
	}
	doc, decodeProblems := manifest.Decode(kfile, profile, v1.KindEdgeProfile)
	locate := t.locator(site)
	for i, p := range decodeProblems {
		decodeProblems[i].Line, decodeProblems[i].Column = 0, 0
		for q := p.Field; q != ""; q = manifest.ParentPath(q) {
			if file, pos, ok := locate(q); ok {
				decodeProblems[i].File, decodeProblems[i].Line, decodeProblems[i].Column = file, pos.Line, pos.Column
				break
			}
		}
	}
	if doc != nil {
		doc.Rendered(locate)
	}
	return doc, append(problems, decodeProblems...)
}

func isKustomization(p string) bool {
	base := path.Base(p)
	for _, n := range kustomizationNames {
		if base == n {
			return true
		}
	}
	return false
}

// checkKustomization refuses what would make kustomize reach outside the
// repository or run programs: remote resources, Helm charts, plugins. It
// reads the file's YAML nodes, so that no spelling of a key (repeated,
// merged in with <<) hides from it; a file that is not YAML is refused
// here, located at the syntax error.
func checkKustomization(file string, data []byte) manifest.Problems {
	docs, err := yamlfile.Documents(file, data, 0)
	if err != nil {
		var errs yamlfile.Errors
		errors.As(err, &errs)
		out := make(manifest.Problems, len(errs))
		for i, e := range errs {
			out[i] = manifest.ProblemOf(e, manifest.Error)
		}
		return out
	}
	var out manifest.Problems
	bad := func(field, format string, args ...any) {
		out = append(out, manifest.Problem{File: file, Field: field, Severity: manifest.Error, Message: fmt.Sprintf(format, args...)})
	}
	seen := map[*yaml.Node]bool{}
	var check func(m *yaml.Node)
	check = func(m *yaml.Node) {
		m = resolve(m)
		if seen[m] {
			return
		}
		seen[m] = true
		if m.Kind == yaml.SequenceNode { // <<: [*a, *b]
			for _, item := range m.Content {
				check(item)
			}
			return
		}
		if m.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			field, value := m.Content[i].Value, resolve(m.Content[i+1])
			switch field {
			case "<<":
				check(value)
			case "resources", "bases", "components":
				if value.Kind != yaml.SequenceNode {
					continue
				}
				for j, item := range value.Content {
					if item = resolve(item); item.Kind == yaml.ScalarNode && isRemote(item.Value) {
						bad(yamlfile.Index(field, j), "%q is remote; a fleet repository must be self-contained, so everything it renders is signed", item.Value)
					}
				}
			case "helmCharts", "helmChartInflationGenerator", "helmGlobals", "generators", "transformers", "validators":
				bad(field, "is not allowed: rendering must not run programs or fetch charts")
			}
		}
	}
	for _, doc := range docs {
		for _, top := range doc.Content {
			check(top)
		}
	}
	return out
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isRemote(s string) bool {
	return strings.Contains(s, "://") || strings.HasPrefix(s, "git@") || strings.HasPrefix(s, "github.com/") ||
		strings.HasPrefix(s, "gitlab.com/") || strings.HasPrefix(s, "bitbucket.org/") || strings.Contains(s, "?ref=")
}
