package yamlfile

import (
	"fmt"
	"strings"
)

// Join appends a mapping key to a field path: spec + nodes -> spec.nodes.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Index appends a list index to a field path: spec.nodes + 0 -> spec.nodes[0].
func Index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

// Parent strips the last element of a field path:
// spec.nodes[0].name -> spec.nodes[0] -> spec.nodes -> spec -> "".
func Parent(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}
