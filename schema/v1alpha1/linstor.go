package v1alpha1

import "regexp"

// linstorName is a LINSTOR object name: letters, digits, "_" and "-",
// not starting with "-", at most 48 (LINSTOR also bounds where digits and
// dashes may stand; those it refuses itself).
var linstorName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,47}$`)

// IsLINSTORName reports whether s may name a LINSTOR resource group,
// resource definition, storage pool or node. The names are put into
// LINSTOR's API paths and queries, so profile lint and the LINSTOR
// backend hold every name to this one rule.
func IsLINSTORName(s string) bool { return linstorName.MatchString(s) }
