// Package lint checks a whole fleet repository the way a pull-request
// check would: it renders every site's EdgeProfile, decodes every
// operation manifest strictly, and validates each against its site,
// reporting every problem at once, sorted by file and line.
//
// It orchestrates render, manifest and validate; it holds no rules of its
// own beyond which files are operations and that operation names are
// unique per kind within a site. It never needs a cluster.
package lint
