//go:build !unix

package view

import "github.com/go-git/go-billy/v5"

// withMappedPacks returns fs unchanged where memory mapping is not
// available.
func withMappedPacks(fs billy.Filesystem, _ string) billy.Filesystem { return fs }
