// Package crd embeds the CustomResourceDefinitions that controller-gen
// writes to bases/ from schema/v1alpha1, so the binary can install them and
// export their schemas. The YAML files are generated: edit the Go types and
// run "make generate".
package crd

import (
	"embed"
	"io/fs"
	"sort"
)

//go:embed bases/*.yaml
var bases embed.FS

// Files returns the CRD YAML documents by file name, sorted.
func Files() (names []string, docs [][]byte) {
	entries, _ := fs.ReadDir(bases, "bases")
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		data, _ := bases.ReadFile("bases/" + n)
		docs = append(docs, data)
	}
	return names, docs
}
