// Package fleet holds what Nodewright keeps about the whole fleet in git:
// the status branch each cluster writes its report and audit records to
// (fleet/statusbranch), the audit trail read back from it, the fleet view
// and dashboard built from it, and the git bundles that carry desired state
// and status across air gaps.
package fleet
