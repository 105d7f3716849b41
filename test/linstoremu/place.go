package linstoremu

import (
	"fmt"
	"math"
	"sort"
	"strings"

	linstor "github.com/LINBIT/golinstor"
)

// disklessPool is the diskless storage pool LINSTOR creates on every node.
const disklessPool = "DfltDisklessStorPool"

// rc turns one of golinstor's untyped return-code constants (which do not
// fit an int64 as constants) into the wire's int64.
func rc(code uint64) int64 { return int64(code) }

// apiError is a failed request: its status and ApiCallRc entries.
type apiError struct {
	status int
	rcs    []apiCallRc
}

func (a *apiError) Error() string {
	if len(a.rcs) == 0 {
		return fmt.Sprintf("status %d", a.status)
	}
	return a.rcs[0].Message
}

// failure builds an apiError whose status follows LINSTOR's
// ApiCallRcRestUtils: not-found codes (300 to 399) answer 404, any other
// error 500.
func failure(code uint64, msg, cause, details string, refs map[string]string) *apiError {
	status := 500
	if c := code & linstor.MaskBitsCode; c >= 300 && c <= 399 {
		status = 404
	}
	return &apiError{status: status, rcs: []apiCallRc{{
		RetCode: rc(code), Message: msg, Cause: cause, Details: details, ObjRefs: refs,
	}}}
}

func notFoundRD(name string) *apiError {
	return failure(linstor.FailNotFoundRscDfn, fmt.Sprintf("Resource definition '%s' not found.", name),
		fmt.Sprintf("The specified resource definition '%s' could not be found in the database", name),
		"", map[string]string{"RscDfn": name})
}

func notFoundRG(name string) *apiError {
	return failure(linstor.FailNotFoundRscGrp, fmt.Sprintf("Resource group '%s' not found.", name),
		fmt.Sprintf("The specified resource group '%s' could not be found in the database", name),
		"", map[string]string{"RscGrp": name})
}

// candidates lists the pools a new replica of rd could go to, most free
// first (then by node): ONLINE nodes that have the pool (any diskful pool
// when poolName is empty) with room for rd and no replica of it, limited
// to nodeNames when that is not empty.
func (e *Emulator) candidates(rd *resourceDef, poolName string, nodeNames []string) []*pool {
	allowed := map[string]bool{}
	for _, n := range nodeNames {
		allowed[n] = true
	}
	best := map[string]*pool{}
	for _, p := range e.pools {
		n := e.nodes[p.node]
		if !n.online || p.free < rd.sizeKiB {
			continue
		}
		if poolName != "" && p.name != poolName {
			continue
		}
		if _, has := rd.replicas[p.node]; has {
			continue
		}
		if len(allowed) > 0 && !allowed[p.node] {
			continue
		}
		if b, ok := best[p.node]; !ok || p.free > b.free || (p.free == b.free && p.name < b.name) {
			best[p.node] = p
		}
	}
	out := make([]*pool, 0, len(best))
	for _, p := range best {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].free != out[j].free {
			return out[i].free > out[j].free
		}
		return out[i].node < out[j].node
	})
	return out
}

// placeRequest is what one autoplace asks, after the request's filter was
// merged over the group's.
type placeRequest struct {
	placeCount      int32
	additionalCount int32
	pool            string
	nodeNames       []string
}

// autoplace runs one autoplace of rd. It returns the replies for a
// successful request (possibly the already-deployed warning) and the
// replicas it placed, or an apiError having placed nothing.
func (e *Emulator) autoplace(rd *resourceDef, req placeRequest) ([]apiCallRc, []Placement, *apiError) {
	if req.placeCount < 0 || req.additionalCount < 0 {
		return nil, nil, failure(linstor.FailInvldPlaceCount,
			fmt.Sprintf("Invalid place count %d.", min(req.placeCount, req.additionalCount)), "", "", map[string]string{"RscDfn": rd.name})
	}
	placed := len(rd.replicas)
	additional := int(req.placeCount) - placed
	if req.additionalCount > 0 {
		additional = int(req.additionalCount)
	}
	if additional == 0 {
		return []apiCallRc{{
			RetCode: rc(linstor.WarnRscAlreadyDeployed),
			Message: fmt.Sprintf("The resource '%s' was already deployed on %d nodes: %s. Skipping.", rd.name, placed, quoteJoin(sortedKeys(rd.replicas))),
			ObjRefs: map[string]string{"RscDfn": rd.name},
		}}, nil, nil
	}
	if additional < 0 {
		return nil, nil, failure(linstor.FailInvldPlaceCount,
			fmt.Sprintf("The resource '%s' is already deployed on %d nodes, the resource would have to be deleted from nodes to reach the placement count.", rd.name, placed),
			"", fmt.Sprintf("Place count: %d", req.placeCount), map[string]string{"RscDfn": rd.name})
	}
	cands := e.candidates(rd, req.pool, req.nodeNames)
	if len(cands) < additional {
		details := fmt.Sprintf("Auto-placing resource: %s\nPlace count: %d\nAdditional replica count: %d\nStorage pool name: %s\nRequired size: %d KiB\nNodes with enough free space in the pool and no replica: %d",
			rd.name, req.placeCount, additional, req.pool, rd.sizeKiB, len(cands))
		return nil, nil, failure(linstor.FailNotEnoughNodes, "Not enough available nodes", "", details, map[string]string{"RscDfn": rd.name})
	}
	var out []Placement
	fresh := placed == 0
	for _, p := range cands[:additional] {
		e.addReplica(rd, p, fresh)
		out = append(out, Placement{Resource: rd.name, Node: p.node})
	}
	nodes := make([]string, 0, len(out))
	for _, p := range out {
		nodes = append(nodes, p.Node)
	}
	return []apiCallRc{{
		RetCode: rc(linstor.MaskRsc | linstor.MaskCrt | linstor.Created),
		Message: fmt.Sprintf("Resource '%s' successfully autoplaced on %d nodes", rd.name, additional),
		Details: "Used nodes (storage pool name): " + quoteJoin(nodes),
		ObjRefs: map[string]string{"RscDfn": rd.name},
	}}, out, nil
}

// addReplica creates a new replica of rd in p: it takes its size from the
// pool and starts Inconsistent, resyncing from the first UpToDate peer.
// The first replicas of a resource (fresh) are UpToDate at once, as
// LINSTOR skips the initial sync of a new resource.
func (e *Emulator) addReplica(rd *resourceDef, p *pool, fresh bool) {
	p.free -= rd.sizeKiB
	r := &replica{node: p.node, pool: p.name, nodeID: rd.nextID, created: e.now, uuid: e.uuid(), volUUID: e.uuid()}
	rd.nextID++
	for _, n := range sortedKeys(rd.replicas) {
		if rd.replicas[n].upToDate {
			r.source = n
			break
		}
	}
	rate := e.rate
	if rd.rate != nil {
		rate = *rd.rate
	}
	rd.replicas[p.node] = r
	if fresh || (math.IsInf(rate, 1) && e.canSync(rd, r)) {
		r.upToDate, r.done, r.source = true, 100, ""
	}
}

func quoteJoin(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return strings.Join(q, ", ")
}
