// Package dashboard writes the fleet dashboard: one static, self-contained
// index.html with the fleet table (cluster, site, applied commit and its
// age, trust policy version, operations in flight, health, Unknown for
// silent clusters), a detail section per cluster (its operations with
// failed ones marked, its newest audit records, why its report is
// unreadable) and the audit log, newest first.
//
// The page holds its CSS and a small filter script inline and loads
// nothing else (its Content-Security-Policy forbids it), so it opens from
// file:// or any static host, offline. It is rendered with html/template,
// so everything the status branch says is escaped.
//
// It renders what fleet/view read and decides nothing: it reads no git
// object and verifies no chain (nodewright audit verify does).
package dashboard
