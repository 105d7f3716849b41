// Package yamlfile reads one YAML document strictly and reports every
// problem with it as an Error located in the file: file name, line,
// column and field path (clusters[2].keys[0].ssh).
//
// Parse splits the input into its document and refuses what no format of
// the repository accepts: input over a size limit, syntax errors, no
// document where one is required, a second document, and (unless allowed)
// YAML anchors and aliases. DecodeNode decodes a parsed document into a Go
// value by walking go.yaml.in/yaml/v3 nodes, so that unknown fields,
// duplicate keys and values of the wrong type are each reported at the
// node that holds them, all of them in one pass. Decode does both;
// Documents splits input that may hold several documents.
//
// Error is the repository's one located error and Errors a list of them:
// the manifest, trust policy, cluster keys, status, health, reconciler
// config, kustomization and CRD readers all report with it (trust.Error
// and statusbranch.ParseError alias it; manifest.Problem adds a severity
// to it). Error formats as "file:line:column: field: message", leaving
// out what is not known.
//
// Most formats take the strict reading (Options.YAMLv3 off): field names
// from json tags, strings only from YAML strings, whole numbers only from
// YAML integers, and messages such as `unknown field; did you mean
// "bond"?`. The formats that were read with yaml.v3's own decoder before
// this package (trust policy, cluster keys, health report, reconciler
// config) keep that decoder's conversions and wording with Options.YAMLv3,
// because their callers and users match on it.
package yamlfile
