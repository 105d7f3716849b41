// Package render reads a fleet repository's files (from a working tree or
// from a git commit, in memory, with no checkout) and renders a site's
// EdgeProfile with kustomize.
//
// It owns the Tree of files and the kustomize build of sites/<site>: each
// site is built in a file system holding only its own folder and bases/,
// so a site can never read another site's files, and kustomizations that
// reach outside the repository (remote bases, Helm charts, exec plugins)
// are refused before kustomize runs. It does not validate what it renders.
package render
