package validate

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // maintenance windows name IANA zones; do not depend on the host's database

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewright/nodewright/schema/manifest"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	ifaceName    = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,15}$`)
	clock        = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
)

// checker collects the problems of one document.
type checker struct {
	doc      *manifest.Document
	problems manifest.Problems
}

func (c *checker) errorf(path, format string, args ...any) {
	c.problems = append(c.problems, c.doc.Problem(manifest.Error, path, format, args...))
}

func (c *checker) noticef(path, format string, args ...any) {
	c.problems = append(c.problems, c.doc.Problem(manifest.Notice, path, format, args...))
}

func (c *checker) required(path, value string) bool {
	if value == "" {
		c.errorf(path, "is required")
		return false
	}
	return true
}

func (c *checker) pattern(path, value string, re *regexp.Regexp, max int, what string) {
	if !c.required(path, value) {
		return
	}
	if len(value) > max || !re.MatchString(value) {
		c.errorf(path, "%q is not %s", value, what)
	}
}

func (c *checker) duration(path string, d metav1.Duration, lo, hi time.Duration) {
	if d.Duration < lo || d.Duration > hi {
		c.errorf(path, "%s is out of bounds; must be between %s and %s", v1.FormatDuration(d.Duration), v1.FormatDuration(lo), v1.FormatDuration(hi))
	}
}

func (c *checker) enum(path, value string, allowed []string, what string) {
	if !c.required(path, value) {
		return
	}
	if !slices.Contains(allowed, value) {
		c.errorf(path, "%q is not %s; one of %s", value, what, strings.Join(allowed, ", "))
	}
}

// unique records name at index i of list and reports it when an earlier
// entry of the list has it already. Empty names are left to required.
func (c *checker) unique(seen map[string]int, name string, i int, path, what, list string) {
	if name == "" {
		return
	}
	if j, dup := seen[name]; dup {
		c.errorf(path, "%s %q is already defined at %s[%d]", what, name, list, j)
		return
	}
	seen[name] = i
}

func (c *checker) metadata(meta *metav1.ObjectMeta) {
	c.pattern("metadata.name", meta.Name, dnsSubdomain, 253, "a valid name (lower-case letters, digits, '-' and '.')")
	if meta.Namespace != "" {
		c.errorf("metadata.namespace", "is chosen by the cluster; remove it from the manifest")
	}
}

func strs[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// Profile checks a site's rendered EdgeProfile on its own; site is the
// name of its folder.
func Profile(doc *manifest.Document, site string) manifest.Problems {
	p := doc.Object.(*v1.EdgeProfile)
	c := &checker{doc: doc}
	c.metadata(&p.ObjectMeta)
	s := &p.Spec
	c.pattern("spec.site", s.Site, dnsLabel, 63, "a site name (a DNS label)")
	if dnsLabel.MatchString(s.Site) && s.Site != site {
		c.errorf("spec.site", "%q does not match its folder sites/%s", s.Site, site)
	}
	c.pattern("spec.clusterName", s.ClusterName, dnsLabel, 63, "a cluster name (a DNS label)")
	if len(s.Nodes) == 0 {
		c.errorf("spec.nodes", "at least one node is required")
	}
	nodes := map[string]int{}
	pools := map[string][]string{} // storage pool -> nodes providing it
	for i, n := range s.Nodes {
		path := fmt.Sprintf("spec.nodes[%d]", i)
		c.pattern(path+".name", n.Name, dnsSubdomain, 253, "a node name")
		c.unique(nodes, n.Name, i, path+".name", "node", "spec.nodes")
		c.bonds(path, n.Bonds)
		seenPool := map[string]bool{}
		for j, sp := range n.StoragePools {
			pp := fmt.Sprintf("%s.storagePools[%d]", path, j)
			if c.required(pp, sp) && seenPool[sp] {
				c.errorf(pp, "storage pool %q is listed twice", sp)
			}
			if sp != "" && !v1.IsLINSTORName(sp) {
				c.errorf(pp, "%q is not a LINSTOR storage pool name (letters, digits, _ and -, at most 48)", sp)
			}
			seenPool[sp] = true
			pools[sp] = append(pools[sp], n.Name)
		}
	}
	groups := map[string]int{}
	for i, rg := range s.ResourceGroups {
		path := fmt.Sprintf("spec.resourceGroups[%d]", i)
		if c.required(path+".name", rg.Name) {
			c.unique(groups, rg.Name, i, path+".name", "resource group", "spec.resourceGroups")
			if !v1.IsLINSTORName(rg.Name) {
				c.errorf(path+".name", "%q is not a LINSTOR resource group name (letters, digits, _ and -, at most 48)", rg.Name)
			}
		}
		holders := pools[rg.StoragePool]
		if c.required(path+".storagePool", rg.StoragePool) && len(holders) == 0 {
			c.errorf(path+".storagePool", "no node provides storage pool %q", rg.StoragePool)
		}
		switch {
		case rg.PlaceCount < v1.MinPlaceCount || rg.PlaceCount > v1.MaxPlaceCount:
			c.errorf(path+".placeCount", "%d is out of bounds; must be between %d and %d", rg.PlaceCount, v1.MinPlaceCount, v1.MaxPlaceCount)
		case len(holders) > 0 && int(rg.PlaceCount) > len(holders):
			c.errorf(path+".placeCount", "%d exceeds the %d nodes with storage pool %q (%s)", rg.PlaceCount, len(holders), rg.StoragePool, strings.Join(holders, ", "))
		}
	}
	classes := map[string]int{}
	for i, sc := range s.StorageClasses {
		path := fmt.Sprintf("spec.storageClasses[%d]", i)
		if c.required(path+".name", sc.Name) {
			c.unique(classes, sc.Name, i, path+".name", "storage class", "spec.storageClasses")
		}
		if _, ok := groups[sc.ResourceGroup]; c.required(path+".resourceGroup", sc.ResourceGroup) && !ok {
			c.errorf(path+".resourceGroup", "resource group %q is not defined under spec.resourceGroups", sc.ResourceGroup)
		}
	}
	for i, w := range s.MaintenanceWindows {
		c.window(fmt.Sprintf("spec.maintenanceWindows[%d]", i), w)
	}
	if m := s.Health.MinReadyNodes; m != nil && (*m < 0 || int(*m) > len(s.Nodes)) {
		c.errorf("spec.health.minReadyNodes", "%d is out of bounds; the site has %d nodes", *m, len(s.Nodes))
	}
	return c.problems
}

func (c *checker) bonds(node string, bonds []v1.Bond) {
	names := map[string]int{}
	owner := map[string]string{} // slave -> bond
	for i, b := range bonds {
		path := fmt.Sprintf("%s.bonds[%d]", node, i)
		c.pattern(path+".name", b.Name, ifaceName, 15, "an interface name (at most 15 letters, digits, '_', '.', '-')")
		c.unique(names, b.Name, i, path+".name", "bond", node+".bonds")
		c.enum(path+".mode", string(b.Mode), strs(v1.BondModes), "a bond mode")
		if len(b.Slaves) == 0 {
			c.errorf(path+".slaves", "a bond needs at least one slave interface")
		}
		for j, s := range b.Slaves {
			sp := fmt.Sprintf("%s.slaves[%d]", path, j)
			c.pattern(sp, s, ifaceName, 15, "an interface name")
			if other, taken := owner[s]; taken && s != "" {
				if other == b.Name {
					c.errorf(sp, "slave %q is listed twice", s)
				} else {
					c.errorf(sp, "slave %q already belongs to bond %q", s, other)
				}
			}
			owner[s] = b.Name
		}
	}
}

func (c *checker) window(path string, w v1.MaintenanceWindow) {
	if len(w.Days) == 0 {
		c.errorf(path+".days", "at least one day is required")
	}
	seen := map[v1.Weekday]bool{}
	for i, d := range w.Days {
		dp := fmt.Sprintf("%s.days[%d]", path, i)
		c.enum(dp, string(d), strs(v1.Weekdays), "a day")
		if seen[d] {
			c.errorf(dp, "%s is listed twice", d)
		}
		seen[d] = true
	}
	if c.required(path+".start", w.Start) && !clock.MatchString(w.Start) {
		c.errorf(path+".start", "%q is not a time of day as HH:MM (24-hour clock)", w.Start)
	}
	c.duration(path+".duration", w.Duration, v1.MinWindowDuration, v1.MaxWindowDuration)
	if c.required(path+".timeZone", w.TimeZone) {
		if _, err := time.LoadLocation(w.TimeZone); err != nil || w.TimeZone == "Local" {
			c.errorf(path+".timeZone", "%q is not an IANA time zone such as Europe/Berlin or UTC", w.TimeZone)
		}
	}
}

// Operation checks one operation manifest on its own and, when profile is
// not nil, against the site's EdgeProfile.
func Operation(doc *manifest.Document, profile *v1.EdgeProfile) manifest.Problems {
	c := &checker{doc: doc}
	switch o := doc.Object.(type) {
	case *v1.BondModeFlipPlan:
		c.metadata(&o.ObjectMeta)
		c.noStatus(o.Status.Phase != "" || len(o.Status.Conditions) > 0 || len(o.Status.Progress) > 0)
		c.bondFlip(&o.Spec, profile)
	case *v1.ReplicationUpgrade:
		c.metadata(&o.ObjectMeta)
		c.noStatus(o.Status.Phase != "" || len(o.Status.Conditions) > 0 || len(o.Status.Progress) > 0)
		c.replication(&o.Spec, profile)
	case *v1.VMVolumeMigration:
		c.metadata(&o.ObjectMeta)
		c.noStatus(o.Status.Phase != "" || len(o.Status.Conditions) > 0 || len(o.Status.Progress) > 0)
		c.vmMigration(&o.Spec, profile)
	default:
		c.errorf("kind", "%s is not an operation kind; one of %s", doc.Kind, strings.Join(v1.OperationKinds, ", "))
	}
	return c.problems
}

func (c *checker) noStatus(set bool) {
	if set || c.doc.Has("status") {
		c.errorf("status", "is reported by the cluster; a manifest must not set it")
	}
}

func nodeNames(p *v1.EdgeProfile) []string {
	out := make([]string, len(p.Spec.Nodes))
	for i, n := range p.Spec.Nodes {
		out[i] = n.Name
	}
	return out
}

func findNode(p *v1.EdgeProfile, name string) *v1.Node {
	for i := range p.Spec.Nodes {
		if p.Spec.Nodes[i].Name == name {
			return &p.Spec.Nodes[i]
		}
	}
	return nil
}

func (c *checker) bondFlip(s *v1.BondModeFlipPlanSpec, profile *v1.EdgeProfile) {
	c.pattern("spec.bond", s.Bond, ifaceName, 15, "an interface name")
	c.enum("spec.fromMode", string(s.FromMode), strs(v1.BondModes), "a bond mode")
	c.enum("spec.toMode", string(s.ToMode), strs(v1.BondModes), "a bond mode")
	if s.ToMode != "" && s.ToMode == s.FromMode {
		c.errorf("spec.toMode", "equals fromMode %q; there is nothing to flip", s.FromMode)
	}
	if len(s.Nodes) == 0 {
		c.errorf("spec.nodes", "at least one node is required")
	}
	if s.MaxUnavailable < 1 || int(s.MaxUnavailable) > max(len(s.Nodes), 1) {
		c.errorf("spec.maxUnavailable", "%d is out of bounds; must be between 1 and the %d nodes listed", s.MaxUnavailable, len(s.Nodes))
	}
	c.duration("spec.revertAfter", s.RevertAfter, v1.MinRevertAfter, v1.MaxRevertAfter)
	c.duration("spec.probes.timeout", s.Probes.Timeout, v1.MinProbeTimeout, v1.MaxProbeTimeout)
	if s.Probes.Gateway != "" && net.ParseIP(s.Probes.Gateway) == nil {
		c.errorf("spec.probes.gateway", "%q is not an IP address", s.Probes.Gateway)
	}
	c.enum("spec.vmProtection", string(s.VMProtection), strs(v1.VMProtections), "a VM protection")
	seen := map[string]bool{}
	for i, n := range s.Nodes {
		path := fmt.Sprintf("spec.nodes[%d]", i)
		if seen[n] {
			c.errorf(path, "node %q is listed twice", n)
		}
		seen[n] = true
	}
	if profile == nil {
		return
	}
	site := profile.Spec.Site
	var slaves []string
	for i, n := range s.Nodes {
		path := fmt.Sprintf("spec.nodes[%d]", i)
		node := findNode(profile, n)
		if node == nil {
			c.errorf(path, "%q is not a node of site %s; one of %s", n, site, strings.Join(nodeNames(profile), ", "))
			continue
		}
		var bond *v1.Bond
		var have []string
		for j := range node.Bonds {
			have = append(have, node.Bonds[j].Name)
			if node.Bonds[j].Name == s.Bond {
				bond = &node.Bonds[j]
			}
		}
		if bond == nil {
			c.errorf(path, "node %s has no bond %q in the profile (it has: %s)", n, s.Bond, listOrNone(have))
			continue
		}
		if s.FromMode != "" && bond.Mode != s.FromMode {
			c.errorf("spec.fromMode", "%q does not match node %s, whose %s runs %s in the profile", s.FromMode, n, s.Bond, bond.Mode)
		}
		slaves = append(slaves, bond.Slaves...)
	}
	for i, peer := range s.Probes.Peers {
		if findNode(profile, peer) == nil {
			c.errorf(fmt.Sprintf("spec.probes.peers[%d]", i), "%q is not a node of site %s; one of %s", peer, site, strings.Join(nodeNames(profile), ", "))
		}
	}
	if s.FromMode != "" && s.ToMode != "" && s.FromMode != s.ToMode && slices.Contains(v1.BondModes, s.ToMode) {
		c.noticef("spec.toMode", "disruptive: the kernel changes a bond's mode only with its slaves released, so %s on each node goes down during its flip (%d node(s) at a time)", s.Bond, s.MaxUnavailable)
		if s.ToMode == v1.Bond8023AD {
			slices.Sort(slaves)
			c.noticef("spec.toMode", "802.3ad needs LACP configured on the switch ports of %s", strings.Join(slices.Compact(slaves), ", "))
		}
	}
}

func listOrNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

func (c *checker) replication(s *v1.ReplicationUpgradeSpec, profile *v1.EdgeProfile) {
	c.required("spec.resourceGroup", s.ResourceGroup)
	for _, f := range []struct {
		path string
		v    int32
	}{{"spec.fromPlaceCount", s.FromPlaceCount}, {"spec.toPlaceCount", s.ToPlaceCount}} {
		if f.v < v1.MinPlaceCount || f.v > v1.MaxPlaceCount {
			c.errorf(f.path, "%d is out of bounds; must be between %d and %d", f.v, v1.MinPlaceCount, v1.MaxPlaceCount)
		}
	}
	if s.ToPlaceCount <= s.FromPlaceCount && s.FromPlaceCount > 0 {
		c.errorf("spec.toPlaceCount", "%d is not more than fromPlaceCount %d; lowering replication is not an upgrade", s.ToPlaceCount, s.FromPlaceCount)
	}
	if s.BatchSize < 1 || s.BatchSize > v1.MaxBatchSize {
		c.errorf("spec.batchSize", "%d is out of bounds; must be between 1 and %d", s.BatchSize, v1.MaxBatchSize)
	}
	c.duration("spec.syncTimeout", s.SyncTimeout, v1.MinSyncTimeout, v1.MaxSyncTimeout)
	if s.StallTimeout != nil {
		c.duration("spec.stallTimeout", *s.StallTimeout, v1.MinStallTimeout, v1.MaxStallTimeout)
	}
	if profile == nil || s.ResourceGroup == "" {
		return
	}
	var rg *v1.ResourceGroup
	var names []string
	for i := range profile.Spec.ResourceGroups {
		names = append(names, profile.Spec.ResourceGroups[i].Name)
		if profile.Spec.ResourceGroups[i].Name == s.ResourceGroup {
			rg = &profile.Spec.ResourceGroups[i]
		}
	}
	if rg == nil {
		c.errorf("spec.resourceGroup", "%q is not a resource group of site %s (it has: %s)", s.ResourceGroup, profile.Spec.Site, listOrNone(names))
		return
	}
	if s.FromPlaceCount != rg.PlaceCount {
		c.errorf("spec.fromPlaceCount", "%d does not match resource group %s, whose place count is %d in the profile", s.FromPlaceCount, rg.Name, rg.PlaceCount)
	}
	var holders []string
	for _, n := range profile.Spec.Nodes {
		if slices.Contains(n.StoragePools, rg.StoragePool) {
			holders = append(holders, n.Name)
		}
	}
	if s.ToPlaceCount <= v1.MaxPlaceCount && int(s.ToPlaceCount) > len(holders) {
		c.errorf("spec.toPlaceCount", "%d exceeds the %d nodes with storage pool %q (%s)", s.ToPlaceCount, len(holders), rg.StoragePool, listOrNone(holders))
	}
}

func (c *checker) vmMigration(s *v1.VMVolumeMigrationSpec, profile *v1.EdgeProfile) {
	c.pattern("spec.vm.namespace", s.VM.Namespace, dnsLabel, 63, "a namespace name")
	c.pattern("spec.vm.name", s.VM.Name, dnsSubdomain, 253, "a VirtualMachine name")
	c.enum("spec.mode", string(s.Mode), strs(v1.MigrationModes), "a migration mode")
	if !c.required("spec.targetStorageClass", s.TargetStorageClass) || profile == nil {
		return
	}
	var names []string
	for _, sc := range profile.Spec.StorageClasses {
		if sc.Name == s.TargetStorageClass {
			return
		}
		names = append(names, sc.Name)
	}
	c.errorf("spec.targetStorageClass", "%q is not declared in the profile of site %s (it declares: %s)", s.TargetStorageClass, profile.Spec.Site, listOrNone(names))
}
