package memory

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/nodewright/nodewright/reconciler/backend"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// ErrNotFound is wrapped by the errors about an unknown resource group,
// resource, VM, node or storage class.
var ErrNotFound = errors.New("not found")

// SyncTarget is the DRBD disk state of a new replica still receiving its
// data; the simulation places every new replica in it.
const SyncTarget = "SyncTarget"

// DefaultSyncAfter is how many observations of its group a new replica
// takes to become UpToDate unless SetSyncAfter says otherwise.
const DefaultSyncAfter = 3

// Storage is a SIMULATED LINSTOR: resource groups whose resources have
// DRBD replicas on the nodes that hold the group's storage pool. It
// implements backend.Storage and is safe for concurrent use.
//
// A replica that Place adds starts in SyncTarget and becomes UpToDate on
// the SetSyncAfter-th ResourceGroup call for its group after that, so a
// sync takes a known number of polls and no timer is involved.
type Storage struct {
	mu        sync.Mutex
	groups    map[string]*group
	syncAfter int
	neverSync map[string]bool
	pools     map[string]map[string]int64 // node → storage pool → free KiB
	offline   map[string]bool
	log       log
}

// DefaultFreeKiB is the free capacity StorageFromProfile gives each
// storage pool of each node: 1 TiB.
const DefaultFreeKiB = 1 << 30

var _ backend.Storage = (*Storage)(nil)

type group struct {
	sizes      map[string]int64 // resource → KiB per replica
	placeCount int
	nodes      []string // nodes with the group's storage pool, in order
	resources  map[string][]*replica
}

type replica struct {
	node  string
	state string
	left  int // observations until UpToDate
	peers []backend.PeerSync
}

// NewStorage returns a simulated LINSTOR without resource groups.
func NewStorage() *Storage {
	return &Storage{groups: map[string]*group{}, syncAfter: DefaultSyncAfter, neverSync: map[string]bool{},
		pools: map[string]map[string]int64{}, offline: map[string]bool{}}
}

// StorageFromProfile returns a simulated LINSTOR seeded from a site
// profile: every resource group of the profile, with the profile's place
// count, may place replicas on the profile's nodes that have its storage
// pool (each node's pools have DefaultFreeKiB free), and holds
// resourcesPerGroup resources named <group>-001,
// <group>-002, ... whose replicas are UpToDate (see AddGroup for where
// they sit). A nil profile gives an empty Storage.
func StorageFromProfile(p *v1.EdgeProfile, resourcesPerGroup int) *Storage {
	s := NewStorage()
	if p == nil {
		return s
	}
	for _, n := range p.Spec.Nodes {
		for _, pool := range n.StoragePools {
			s.SetPool(n.Name, pool, DefaultFreeKiB)
		}
	}
	for _, rg := range p.Spec.ResourceGroups {
		var nodes []string
		for _, n := range p.Spec.Nodes {
			if slices.Contains(n.StoragePools, rg.StoragePool) {
				nodes = append(nodes, n.Name)
			}
		}
		names := make([]string, resourcesPerGroup)
		for i := range names {
			names[i] = fmt.Sprintf("%s-%03d", rg.Name, i+1)
		}
		s.AddGroup(rg.Name, int(rg.PlaceCount), nodes, names...)
	}
	return s
}

// AddGroup adds (or replaces) a resource group with its place count, the
// nodes that hold its storage pool (replicas go only there) and its
// resources. Resource i (counting from 0) gets min(placeCount,
// len(nodes)) UpToDate replicas on consecutive nodes starting at node i
// modulo len(nodes), so replicas spread evenly.
func (s *Storage) AddGroup(name string, placeCount int, nodes []string, resources ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &group{placeCount: placeCount, nodes: slices.Clone(nodes), resources: map[string][]*replica{}, sizes: map[string]int64{}}
	for i, res := range resources {
		var reps []*replica
		for k := range min(placeCount, len(nodes)) {
			reps = append(reps, &replica{node: nodes[(i+k)%len(nodes)], state: backend.UpToDate})
		}
		g.resources[res] = reps
	}
	s.groups[name] = g
}

// SetReplicas sets a resource's replicas as given (adding the resource
// when it is new), to seed a degraded or half-done group. A replica in
// SyncTarget catches up as placed replicas do; one in any other state
// (Outdated, Inconsistent, ...) stays so until SetReplicas changes it.
func (s *Storage) SetReplicas(groupName, resource string, replicas ...backend.Replica) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[groupName]
	if !ok {
		return fmt.Errorf("simulated LINSTOR: resource group %q: %w", groupName, ErrNotFound)
	}
	reps := make([]*replica, len(replicas))
	for i, r := range replicas {
		reps[i] = &replica{node: r.Node, state: r.State, left: s.syncAfter}
	}
	g.resources[resource] = reps
	return nil
}

// SetPool gives node the storage pool with freeKiB free (replacing what
// it had), so StoragePools reports it.
func (s *Storage) SetPool(node, pool string, freeKiB int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pools[node] == nil {
		s.pools[node] = map[string]int64{}
	}
	s.pools[node][pool] = freeKiB
}

// SetOnline marks node online or offline, as StoragePools reports it.
// Placement ignores it: the simulation checks nothing more.
func (s *Storage) SetOnline(node string, online bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if online {
		delete(s.offline, node)
	} else {
		s.offline[node] = true
	}
}

// StoragePools reports every node that has a storage pool or a replica,
// sorted by name, with the named pool's free capacity; a node is online
// unless SetOnline said otherwise (status ONLINE or OFFLINE, as LINSTOR
// writes them).
func (s *Storage) StoragePools(ctx context.Context, pool string) ([]backend.NodePool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.log.fault(MethodStoragePools); err != nil {
		return nil, s.log.record(MethodStoragePools, pool, false, err, "")
	}
	nodes := map[string]bool{}
	for n := range s.pools {
		nodes[n] = true
	}
	for _, g := range s.groups {
		for _, n := range g.nodes {
			nodes[n] = true
		}
	}
	var out []backend.NodePool
	for _, n := range slices.Sorted(maps.Keys(nodes)) {
		free, has := s.pools[n][pool]
		np := backend.NodePool{Node: n, Online: !s.offline[n], Status: "ONLINE", HasPool: has, FreeKiB: free}
		if !np.Online {
			np.Status = "OFFLINE"
		}
		out = append(out, np)
	}
	_ = s.log.record(MethodStoragePools, pool, false, nil, "")
	return out, nil
}

// SetSize sets the space a replica of the resource takes, in KiB, as
// ResourceGroup reports it; placement does not consume pool space.
func (s *Storage) SetSize(groupName, resource string, kib int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[groupName]
	if !ok {
		return fmt.Errorf("simulated LINSTOR: resource group %q: %w", groupName, ErrNotFound)
	}
	g.sizes[resource] = kib
	return nil
}

// SetPeers sets what the resource's replica on node reports of its peers
// (connection, replication state, resync percentage), until it is
// UpToDate, when the simulation clears them.
func (s *Storage) SetPeers(groupName, resource, node string, peers ...backend.PeerSync) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[groupName]
	if !ok {
		return fmt.Errorf("simulated LINSTOR: resource group %q: %w", groupName, ErrNotFound)
	}
	for _, r := range g.resources[resource] {
		if r.node == node {
			r.peers = slices.Clone(peers)
			return nil
		}
	}
	return fmt.Errorf("simulated LINSTOR: replica of %q on %q: %w", resource, node, ErrNotFound)
}

// SetSyncAfter sets how many observations of its group a replica placed
// from now on takes to become UpToDate; 0 places replicas UpToDate.
func (s *Storage) SetSyncAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.syncAfter = max(n, 0)
}

// NeverSync makes the replicas of the named resource that are (or will
// be) in SyncTarget stay there, as a sync that never finishes; false lets
// them catch up again.
func (s *Storage) NeverSync(resource string, never bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if never {
		s.neverSync[resource] = true
	} else {
		delete(s.neverSync, resource)
	}
}

// Fail makes the next times calls of method (one of MethodResourceGroup,
// MethodPlace, MethodSetPlaceCount) return err without changing anything;
// times <= 0 fails every call until Fail(method, nil, 0) clears it.
func (s *Storage) Fail(method string, err error, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log.fail(method, err, times)
}

// Calls returns every call made so far, oldest first, reads included.
func (s *Storage) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.snapshot(false)
}

// Mutations returns the calls that changed something, oldest first.
func (s *Storage) Mutations() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.snapshot(true)
}

// Group returns the named group as ResourceGroup would, without counting
// as an observation (no replica moves on) and without logging a call:
// for tests and the demo to look at.
func (s *Storage) Group(name string) (backend.ResourceGroup, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[name]
	if !ok {
		return backend.ResourceGroup{}, false
	}
	return g.view(name), true
}

// ResourceGroup returns the group with its resources (sorted by name) and
// their replicas' states. Each call is one observation of the group: a
// replica in SyncTarget moves one step closer to UpToDate first.
func (s *Storage) ResourceGroup(ctx context.Context, name string) (*backend.ResourceGroup, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.log.fault(MethodResourceGroup); err != nil {
		return nil, s.log.record(MethodResourceGroup, name, false, err, "")
	}
	g, ok := s.groups[name]
	if !ok {
		return nil, s.log.record(MethodResourceGroup, name, false, fmt.Errorf("simulated LINSTOR: resource group %q: %w", name, ErrNotFound), "")
	}
	for res, reps := range g.resources {
		if s.neverSync[res] {
			continue
		}
		for _, r := range reps {
			if r.state != SyncTarget {
				continue
			}
			if r.left--; r.left <= 0 {
				r.state, r.peers = backend.UpToDate, nil
			}
		}
	}
	_ = s.log.record(MethodResourceGroup, name, false, nil, "")
	out := g.view(name)
	return &out, nil
}

func (g *group) view(name string) backend.ResourceGroup {
	out := backend.ResourceGroup{Name: name, PlaceCount: g.placeCount}
	for _, res := range slices.Sorted(maps.Keys(g.resources)) {
		r := backend.Resource{Name: res, SizeKiB: g.sizes[res]}
		for _, rep := range g.resources[res] {
			r.Replicas = append(r.Replicas, backend.Replica{Node: rep.node, State: rep.state, Peers: slices.Clone(rep.peers)})
		}
		out.Resources = append(out.Resources, r)
	}
	return out
}

// Place adds replicas to the named resources until each has count,
// choosing for each new replica the node of the group's storage pool
// that holds no replica of the resource and the fewest of the group (the
// earlier node on a tie). New replicas start in SyncTarget. Resources
// with count replicas or more are left alone, so a repeat changes
// nothing. It checks every resource first and changes nothing when one is
// unknown or cannot get count replicas on distinct nodes.
func (s *Storage) Place(ctx context.Context, groupName string, resources []string, count int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	args := fmt.Sprintf("[%s], %d", strings.Join(resources, " "), count)
	if err := s.log.fault(MethodPlace); err != nil {
		return s.log.record(MethodPlace, groupName, false, err, "%s", args)
	}
	g, ok := s.groups[groupName]
	if !ok {
		return s.log.record(MethodPlace, groupName, false, fmt.Errorf("simulated LINSTOR: resource group %q: %w", groupName, ErrNotFound), "%s", args)
	}
	if count < 1 {
		return s.log.record(MethodPlace, groupName, false, fmt.Errorf("simulated LINSTOR: place count %d is below 1", count), "%s", args)
	}
	for _, res := range resources {
		if _, ok := g.resources[res]; !ok {
			return s.log.record(MethodPlace, groupName, false, fmt.Errorf("simulated LINSTOR: resource %q of group %q: %w", res, groupName, ErrNotFound), "%s", args)
		}
	}
	for _, res := range resources {
		need := count - len(g.resources[res])
		if free := g.freeNodes(res); need > len(free) {
			return s.log.record(MethodPlace, groupName, false, fmt.Errorf("simulated LINSTOR: not enough nodes: resource %q needs %d more replicas, %d nodes of group %q are free for it (%s)", res, need, len(free), groupName, strings.Join(free, ", ")), "%s", args)
		}
	}
	changed := false
	for _, res := range resources {
		for len(g.resources[res]) < count {
			node := g.freeNode(res)
			r := &replica{node: node, state: SyncTarget, left: s.syncAfter}
			if s.syncAfter == 0 {
				r.state = backend.UpToDate
			}
			g.resources[res] = append(g.resources[res], r)
			changed = true
		}
	}
	return s.log.record(MethodPlace, groupName, changed, nil, "%s", args)
}

// freeNodes returns the group's nodes without a replica of res, in order.
func (g *group) freeNodes(res string) []string {
	var out []string
	for _, n := range g.nodes {
		if !slices.ContainsFunc(g.resources[res], func(r *replica) bool { return r.node == n }) {
			out = append(out, n)
		}
	}
	return out
}

// freeNode returns the node for a new replica of res: of the nodes
// without a replica of it, the one holding the fewest replicas of the
// group, the earlier on a tie.
func (g *group) freeNode(res string) string {
	load := map[string]int{}
	for _, reps := range g.resources {
		for _, r := range reps {
			load[r.node]++
		}
	}
	best := ""
	for _, n := range g.freeNodes(res) {
		if best == "" || load[n] < load[best] {
			best = n
		}
	}
	return best
}

// SetPlaceCount sets the group's place count.
func (s *Storage) SetPlaceCount(ctx context.Context, groupName string, count int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.log.fault(MethodSetPlaceCount); err != nil {
		return s.log.record(MethodSetPlaceCount, groupName, false, err, "%d", count)
	}
	g, ok := s.groups[groupName]
	if !ok {
		return s.log.record(MethodSetPlaceCount, groupName, false, fmt.Errorf("simulated LINSTOR: resource group %q: %w", groupName, ErrNotFound), "%d", count)
	}
	if count < 1 {
		return s.log.record(MethodSetPlaceCount, groupName, false, fmt.Errorf("simulated LINSTOR: place count %d is below 1", count), "%d", count)
	}
	changed := g.placeCount != count
	g.placeCount = count
	return s.log.record(MethodSetPlaceCount, groupName, changed, nil, "%d", count)
}
