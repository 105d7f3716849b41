package view

import (
	"bytes"
	"fmt"

	"github.com/nodewright/nodewright/fleet/statusbranch"
)

// ParseStatus reads clusters/<cluster>/status.yaml with the status
// writer's strict reader, statusbranch.ParseStatus (the owner of the
// format: a ClusterStatus under its JSON field names, cut to a summary
// with truncated, totalOperations and phases past the writer's size
// budget), and adds what the fleet view relies on: when cluster is not
// empty, the report must name that cluster, the one whose directory holds
// it. Every error is a *statusbranch.ParseError naming file, line and
// field.
func ParseStatus(file, cluster string, data []byte) (*statusbranch.Status, error) {
	st, err := statusbranch.ParseStatus(file, data)
	if err != nil {
		return nil, err
	}
	if cluster != "" && st.Cluster != cluster {
		return nil, &statusbranch.ParseError{File: file, Line: topLevelLine(data, "cluster"), Field: "cluster",
			Message: fmt.Sprintf("%q does not match the directory clusters/%s/ the report is in", st.Cluster, cluster)}
	}
	return st, nil
}

// topLevelLine returns the 1-based line on which a top-level key of a
// block-style YAML mapping is written, or 0.
func topLevelLine(data []byte, key string) int {
	for i, line := range bytes.Split(data, []byte{'\n'}) {
		for _, prefix := range []string{key + ":", `"` + key + `":`, "'" + key + "':"} {
			if bytes.HasPrefix(line, []byte(prefix)) {
				return i + 1
			}
		}
	}
	return 0
}
