// Package crd embeds the CustomResourceDefinitions that controller-gen
// writes to bases/ from schema/v1alpha1, so the binary can install them and
// export their schemas. The YAML files are generated: edit the Go types and
// run "make generate".
package crd

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
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

// Objects returns the CRDs decoded, in the order of Files.
func Objects() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	names, docs := Files()
	out := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(docs))
	for i, doc := range docs {
		c := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(doc, c); err != nil {
			return nil, fmt.Errorf("CRD %s: %w", names[i], err)
		}
		if c.Kind != "CustomResourceDefinition" {
			return nil, fmt.Errorf("CRD %s: kind %q, not CustomResourceDefinition", names[i], c.Kind)
		}
		out = append(out, c)
	}
	return out, nil
}
