// Package manifest decodes Nodewright manifests strictly and keeps the
// position of every field, so that each problem names its file, line,
// column and field path.
//
// It applies internal/yamlfile's strict decoding (one YAML document per
// file, no unknown fields, no duplicate keys, no values of the wrong type)
// to the kinds of schema/v1alpha1 and owns the Problem type every checker
// reports with: a yamlfile.Error with a severity. It knows nothing of
// what makes a manifest valid beyond its shape: that is schema/validate's
// job.
package manifest
