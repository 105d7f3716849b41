package replication

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/nodewright/nodewright/reconciler/backend"
	"github.com/nodewright/nodewright/reconciler/operation"
)

// ReasonNotEnoughCapacity halts the operation at Preflight when the
// placement's nodes are not all online or their storage pool has not the
// room for the new replicas; nothing was changed.
const ReasonNotEnoughCapacity = "NotEnoughCapacity"

// Capacity is the preflight's pure verdict on room for the new replicas:
// every node of poolNodes (the profile's nodes with the group's storage
// pool) must be online and have pool, and the new replicas must fit. The
// fit is checked as LINSTOR places: each new replica of a resource goes
// to a node without one, the node with the most free space left first.
// A node whose free capacity such a placement overdraws is named with
// its shortfall. Resources of unknown size (SizeKiB 0) take no room.
func Capacity(g *backend.ResourceGroup, need []string, to int, pool string, poolNodes []string, nodes []backend.NodePool) error {
	byName := map[string]backend.NodePool{}
	for _, n := range nodes {
		byName[n.Node] = n
	}
	var bad []string
	free := map[string]int64{}
	for _, name := range poolNodes {
		n, ok := byName[name]
		switch {
		case !ok:
			bad = append(bad, name+" (unknown to the storage controller)")
		case !n.Online:
			bad = append(bad, fmt.Sprintf("%s (%s)", name, orUnknown(n.Status)))
		case !n.HasPool:
			bad = append(bad, fmt.Sprintf("%s (no storage pool %s)", name, pool))
		default:
			free[name] = n.FreeKiB
		}
	}
	if len(bad) > 0 {
		return operation.Stall(ReasonNotEnoughCapacity, "nodes of storage pool %s are not ready for new replicas: %s; nothing was changed", pool, list(bad))
	}
	left := maps.Clone(free)
	demand := map[string]int64{}
	var unplaceable []string
	for _, name := range need {
		i := slices.IndexFunc(g.Resources, func(r backend.Resource) bool { return r.Name == name })
		if i < 0 {
			continue
		}
		r := g.Resources[i]
		candidates := slices.DeleteFunc(slices.Clone(poolNodes), func(n string) bool {
			return slices.ContainsFunc(r.Replicas, func(rep backend.Replica) bool { return rep.Node == n })
		})
		k := to - len(r.Replicas)
		if k > len(candidates) {
			unplaceable = append(unplaceable, fmt.Sprintf("%s (needs %d more nodes, %d free of it)", r.Name, k, len(candidates)))
			continue
		}
		for range k {
			slices.SortStableFunc(candidates, func(a, b string) int {
				switch {
				case left[a] > left[b]:
					return -1
				case left[a] < left[b]:
					return 1
				}
				return strings.Compare(a, b)
			})
			n := candidates[0]
			candidates = candidates[1:]
			left[n] -= r.SizeKiB
			demand[n] += r.SizeKiB
		}
	}
	if len(unplaceable) > 0 {
		return operation.Stall(ReasonNotEnoughCapacity, "not enough nodes with storage pool %s: %s; nothing was changed", pool, list(unplaceable))
	}
	var short []string
	for _, n := range poolNodes {
		if left[n] < 0 {
			short = append(short, fmt.Sprintf("%s short by %s (free %s, new replicas %s)", n, kib(-left[n]), kib(free[n]), kib(demand[n])))
		}
	}
	if len(short) > 0 {
		return operation.Stall(ReasonNotEnoughCapacity, "storage pool %s has not the room for the new replicas: %s; nothing was changed", pool, list(short))
	}
	return nil
}

// kib writes a size given in KiB with a binary unit.
func kib(n int64) string {
	const unit = 1024
	v, units := float64(n), []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	for v >= unit && i < len(units)-1 {
		v /= unit
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d KiB", n)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

func orUnknown(s string) string {
	if s == "" {
		return "status unknown"
	}
	return s
}
