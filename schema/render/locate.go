package render

import (
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/nodewright/nodewright/schema/manifest"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// patchPath finds the JSON pointer of a JSON 6902 patch operation in a
// kustomization: `path: /spec/site` (quoted or in flow style).
var patchPath = regexp.MustCompile(`\bpath:\s*["']?(/[^"',}\s]*)`)

type location struct {
	file string
	pos  manifest.Position
}

// locator places fields of a site's rendered profile in the files that set
// them: a JSON patch in a kustomization first, then an EdgeProfile
// manifest or patch in the site's folder, then one in bases/.
func (t *Tree) locator(site string) manifest.Locator {
	dir := "sites/" + site
	patches := map[string]location{}
	fields := map[string]location{}
	var sources []*manifest.Document
	for _, group := range [][]string{t.Files(dir), t.Files("bases")} {
		for _, p := range group {
			if strings.HasPrefix(p, dir+"/operations/") {
				continue
			}
			data := t.files[p]
			if isKustomization(p) {
				for i, line := range strings.Split(string(data), "\n") {
					if m := patchPath.FindStringSubmatchIndex(line); m != nil {
						ptr := line[m[2]:m[3]]
						if _, seen := patches[ptr]; !seen {
							patches[ptr] = location{p, manifest.Position{Line: i + 1, Column: m[2] + 1}}
						}
					}
				}
				continue
			}
			if ext := path.Ext(p); ext != ".yaml" && ext != ".yml" {
				continue
			}
			doc, problems := manifest.Decode(p, data, v1.KindEdgeProfile)
			if doc == nil {
				continue
			}
			sources = append(sources, doc)
			for _, pr := range problems {
				if _, seen := fields[pr.Field]; pr.Field != "" && !seen {
					fields[pr.Field] = location{p, manifest.Position{Line: pr.Line, Column: pr.Column}}
				}
			}
		}
	}
	return func(field string) (string, manifest.Position, bool) {
		if loc, ok := patches[pointer(field)]; ok {
			return loc.file, loc.pos, true
		}
		for _, d := range sources {
			if pos, ok := d.Position(field); ok {
				return d.File, pos, true
			}
		}
		if loc, ok := fields[field]; ok {
			return loc.file, loc.pos, true
		}
		return "", manifest.Position{}, false
	}
}

// pointer turns a field path (spec.nodes[0].name) into a JSON pointer
// (/spec/nodes/0/name).
func pointer(field string) string {
	var b strings.Builder
	for _, part := range strings.Split(field, ".") {
		name, rest, _ := strings.Cut(part, "[")
		b.WriteString("/" + strings.ReplaceAll(strings.ReplaceAll(name, "~", "~0"), "/", "~1"))
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			if _, err := strconv.Atoi(idx); err == nil {
				b.WriteString("/" + idx)
			}
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return b.String()
}
