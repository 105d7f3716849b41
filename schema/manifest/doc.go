// Package manifest decodes Nodewright manifests strictly and keeps the
// position of every field, so that each problem names its file, line,
// column and field path.
//
// It owns the decoding rules (one YAML document per file, no unknown
// fields, no duplicate keys, no values of the wrong type) and the Problem
// type every checker reports with. It knows the kinds of schema/v1alpha1
// but not what makes a manifest valid beyond its shape: that is
// schema/validate's job.
package manifest
