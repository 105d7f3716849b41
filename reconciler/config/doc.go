// Package config reads the file `nodewright reconciler --config` takes:
// strictly, with errors naming the file and line. It is pure, so its
// parser is fuzzed on its own; package reconciler turns a Config into a
// running manager.
package config
