package jsonschema

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/nodewright/nodewright/config/crd"
	"github.com/nodewright/nodewright/internal/yamlfile"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Draft is the JSON Schema dialect of the exported documents.
const Draft = "https://json-schema.org/draft/2020-12/schema"

//go:embed trustpolicy.schema.json
var trustPolicy []byte

// maxCRDSize bounds a generated CRD file.
const maxCRDSize = 8 << 20

// Schema is one exported JSON Schema document.
type Schema struct {
	// Kind is the kind the schema describes.
	Kind string
	// FileName is the name to write it as, e.g. bondmodeflipplan.schema.json.
	FileName string
	// JSON is the document.
	JSON []byte
}

// All returns a schema for every kind with a CRD, and for TrustPolicy.
func All() ([]Schema, error) {
	names, docs := crd.Files()
	var out []Schema
	for i, data := range docs {
		var c apiextensionsv1.CustomResourceDefinition
		if _, err := yamlfile.Decode(names[i], data, &c, yamlfile.Options{MaxSize: maxCRDSize, Empty: "file is empty; expected a CustomResourceDefinition"}); err != nil {
			return nil, err
		}
		s, err := fromCRD(&c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", names[i], err)
		}
		out = append(out, s)
	}
	out = append(out, Schema{Kind: "TrustPolicy", FileName: "trustpolicy.schema.json", JSON: trustPolicy})
	return out, nil
}

func fromCRD(c *apiextensionsv1.CustomResourceDefinition) (Schema, error) {
	kind := c.Spec.Names.Kind
	for _, ver := range c.Spec.Versions {
		if ver.Name != v1.Version || ver.Schema == nil || ver.Schema.OpenAPIV3Schema == nil {
			continue
		}
		raw, err := json.Marshal(ver.Schema.OpenAPIV3Schema)
		if err != nil {
			return Schema{}, err
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			return Schema{}, err
		}
		strict(doc)
		props, _ := doc["properties"].(map[string]any)
		props["apiVersion"] = map[string]any{"const": v1.APIVersion}
		props["kind"] = map[string]any{"const": kind}
		doc["required"] = union(doc["required"], "apiVersion", "kind")
		doc["$schema"] = Draft
		doc["$id"] = "https://nodewright.io/schemas/v1alpha1/" + strings.ToLower(kind) + ".schema.json"
		doc["title"] = kind
		out, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return Schema{}, err
		}
		return Schema{Kind: kind, FileName: strings.ToLower(kind) + ".schema.json", JSON: append(out, '\n')}, nil
	}
	return Schema{}, fmt.Errorf("no %s schema for %s", v1.Version, kind)
}

// strict forbids properties a schema does not name, as Nodewright's
// decoder does, on every object that lists its properties.
func strict(node map[string]any) {
	if props, ok := node["properties"].(map[string]any); ok {
		if _, set := node["additionalProperties"]; !set {
			node["additionalProperties"] = false
		}
		for _, p := range props {
			if m, ok := p.(map[string]any); ok {
				strict(m)
			}
		}
	}
	if items, ok := node["items"].(map[string]any); ok {
		strict(items)
	}
	if ap, ok := node["additionalProperties"].(map[string]any); ok {
		strict(ap)
	}
}

func union(existing any, add ...string) []any {
	var out []any
	seen := map[string]bool{}
	if list, ok := existing.([]any); ok {
		for _, x := range list {
			out = append(out, x)
			seen[fmt.Sprint(x)] = true
		}
	}
	for _, a := range add {
		if !seen[a] {
			out = append(out, a)
		}
	}
	return out
}
