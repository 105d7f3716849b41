// Package example holds the sample fleet repository that "nodewright init
// --example" writes and the demo uses: a shared base profile, two sites
// patched from it, and one operation of each kind. It is data, kept valid
// under lint by this package's test.
package example
