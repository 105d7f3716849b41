package linstoremu

import (
	"fmt"
	"math"
	"net/http/httptest"
	"path"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultSyncRate is how fast a new replica resyncs unless an option or
// SetSyncRate says otherwise: percent of the volume per second of virtual
// time.
const DefaultSyncRate = 1.0

// TB is the part of testing.TB that New uses.
type TB interface {
	Helper()
	Cleanup(func())
}

// Option configures an Emulator.
type Option func(*Emulator)

// WithSyncRate sets how fast new replicas resync: pct percent of the
// volume per second of virtual time (math.Inf(1) syncs at once).
func WithSyncRate(pct float64) Option {
	return func(e *Emulator) { e.rate = pct }
}

// WithInstantSync makes every new replica UpToDate the moment it is
// placed, for benchmarks over many resources.
func WithInstantSync() Option {
	return WithSyncRate(math.Inf(1))
}

// WithPollStep makes every GET /v1/view/resources advance the virtual
// clock by d before it answers, so a client that polls sees resyncs
// progress without the test stepping the clock.
func WithPollStep(d time.Duration) Option {
	return func(e *Emulator) { e.pollStep = d }
}

// Emulator is an emulated LINSTOR controller and its satellites, served
// over HTTP. Every method is safe to call while requests are served.
type Emulator struct {
	rate     float64
	pollStep time.Duration

	mu       sync.Mutex
	now      time.Duration
	nodes    map[string]*node
	pools    map[poolKey]*pool
	groups   map[string]*group
	rds      map[string]*resourceDef
	faults   []*fault
	calls    []*Call
	serial   int
	nextPort int

	srv       *httptest.Server
	closing   chan struct{}
	closeOnce sync.Once
	inFlight  atomic.Int64
}

type node struct {
	name   string
	online bool
	uuid   string
	index  int
}

type poolKey struct{ node, name string }

type pool struct {
	node, name string
	provider   string
	free       int64
	total      int64
	uuid       string
}

type group struct {
	name       string
	pool       string
	placeCount int32
	uuid       string
}

type resourceDef struct {
	name     string
	group    string
	sizeKiB  int64
	uuid     string
	port     int
	minor    int
	rate     *float64
	stalled  bool
	replicas map[string]*replica // by node
	nextID   int
}

type replica struct {
	node       string
	pool       string
	nodeID     int
	upToDate   bool
	done       float64 // resync progress, 0 to 100, while !upToDate
	source     string  // the peer it resyncs from, while !upToDate
	standAlone bool
	forced     map[string]string // peer → replication state set by SetReplicationState
	created    time.Duration
	uuid       string
	volUUID    string
}

// Placement is one replica that a request created.
type Placement struct {
	// Resource is the resource definition's name.
	Resource string
	// Node is the node the replica was placed on.
	Node string
}

// Call is one request the emulator received.
type Call struct {
	// Method is the HTTP method.
	Method string
	// Path is the URL path.
	Path string
	// Query is the raw query string.
	Query string
	// Body is the request body, compacted JSON, cut at 512 bytes.
	Body string
	// Status is the HTTP status the emulator answered (or tried to answer
	// when Abandoned); 0 while the request is being served.
	Status int
	// Mutation is true when the request changed the emulator's state.
	Mutation bool
	// Placed lists the replicas the request created, in order.
	Placed []Placement
	// Injected is true when an injected fault (FailNext, HangNext,
	// HangAfterNext) matched the request.
	Injected bool
	// Abandoned is true when the client went away before the answer.
	Abandoned bool
}

type faultKind int

const (
	faultFail faultKind = iota
	faultHang
	faultHangAfter
)

type fault struct {
	kind    faultKind
	method  string
	pattern string
	left    int
	delay   time.Duration
}

// New starts an emulator for a test and closes it when the test ends.
func New(t TB, opts ...Option) *Emulator {
	t.Helper()
	e := Start(opts...)
	t.Cleanup(e.Close)
	return e
}

// Start starts an emulator on a local port; Close stops it.
func Start(opts ...Option) *Emulator {
	e := &Emulator{
		rate:     DefaultSyncRate,
		nodes:    map[string]*node{},
		pools:    map[poolKey]*pool{},
		groups:   map[string]*group{},
		rds:      map[string]*resourceDef{},
		closing:  make(chan struct{}),
		nextPort: 7000,
	}
	for _, o := range opts {
		o(e)
	}
	e.srv = httptest.NewServer(e)
	return e
}

// URL is the controller's base URL, for client.BaseURL.
func (e *Emulator) URL() string { return e.srv.URL }

// Close releases hung requests, stops the server and waits for every
// request being served to end. It may be called more than once.
func (e *Emulator) Close() {
	e.closeOnce.Do(func() {
		close(e.closing)
		e.srv.CloseClientConnections()
		e.srv.Close()
	})
}

// InFlight is the number of requests being served now, so a test can show
// that a hung request ended when its client gave up.
func (e *Emulator) InFlight() int { return int(e.inFlight.Load()) }

func (e *Emulator) uuid() string {
	e.serial++
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", e.serial, e.serial)
}

// AddNode adds an online satellite node.
func (e *Emulator) AddNode(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if name == "" {
		return fmt.Errorf("add node: empty name")
	}
	if _, ok := e.nodes[name]; ok {
		return fmt.Errorf("add node %q: already exists", name)
	}
	e.nodes[name] = &node{name: name, online: true, uuid: e.uuid(), index: len(e.nodes) + 1}
	return nil
}

// AddStoragePool adds an LVM_THIN storage pool to a node, with its free
// and total capacity in KiB.
func (e *Emulator) AddStoragePool(nodeName, name string, freeKiB, totalKiB int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.nodes[nodeName]; !ok {
		return fmt.Errorf("add storage pool %q: no node %q", name, nodeName)
	}
	k := poolKey{nodeName, name}
	if _, ok := e.pools[k]; ok || name == disklessPool {
		return fmt.Errorf("add storage pool %q on %q: already exists", name, nodeName)
	}
	if freeKiB < 0 || totalKiB < freeKiB {
		return fmt.Errorf("add storage pool %q on %q: free %d KiB and total %d KiB do not fit", name, nodeName, freeKiB, totalKiB)
	}
	e.pools[k] = &pool{node: nodeName, name: name, provider: "LVM_THIN", free: freeKiB, total: totalKiB, uuid: e.uuid()}
	return nil
}

// AddResourceGroup adds a resource group placing in storage pool with
// place count replicas.
func (e *Emulator) AddResourceGroup(name, storagePool string, placeCount int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if name == "" {
		return fmt.Errorf("add resource group: empty name")
	}
	if _, ok := e.groups[name]; ok {
		return fmt.Errorf("add resource group %q: already exists", name)
	}
	if placeCount < 0 {
		return fmt.Errorf("add resource group %q: negative place count %d", name, placeCount)
	}
	e.groups[name] = &group{name: name, pool: storagePool, placeCount: int32(placeCount), uuid: e.uuid()}
	return nil
}

// AddResource adds a resource definition of group with one volume of
// sizeKiB and an UpToDate replica on each of nodes, in the group's
// storage pool; with no nodes, the group's place count of replicas are
// spread over the nodes as autoplace would. Each replica takes sizeKiB
// from its pool.
func (e *Emulator) AddResource(groupName, name string, sizeKiB int64, nodes ...string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.groups[groupName]
	if !ok {
		return fmt.Errorf("add resource %q: no resource group %q", name, groupName)
	}
	if name == "" {
		return fmt.Errorf("add resource in %q: empty name", groupName)
	}
	if _, ok := e.rds[name]; ok {
		return fmt.Errorf("add resource %q: already exists", name)
	}
	if sizeKiB <= 0 {
		return fmt.Errorf("add resource %q: size %d KiB is not positive", name, sizeKiB)
	}
	rd := &resourceDef{name: name, group: groupName, sizeKiB: sizeKiB, uuid: e.uuid(),
		port: e.nextPort, minor: 1000 + e.nextPort - 7000, replicas: map[string]*replica{}}
	if len(nodes) == 0 {
		cands := e.candidates(rd, g.pool, nil)
		if len(cands) < int(g.placeCount) {
			return fmt.Errorf("add resource %q: %d nodes have room in pool %q, place count is %d", name, len(cands), g.pool, g.placeCount)
		}
		for _, p := range cands[:g.placeCount] {
			nodes = append(nodes, p.node)
		}
	}
	for _, n := range nodes {
		p, ok := e.pools[poolKey{n, g.pool}]
		if !ok {
			return fmt.Errorf("add resource %q on %q: the node has no storage pool %q", name, n, g.pool)
		}
		if _, dup := rd.replicas[n]; dup {
			return fmt.Errorf("add resource %q: node %q given twice", name, n)
		}
		if p.free < sizeKiB {
			return fmt.Errorf("add resource %q on %q: pool %q has %d KiB free, needs %d", name, n, g.pool, p.free, sizeKiB)
		}
		rd.replicas[n] = &replica{node: n, pool: g.pool, upToDate: true, done: 100}
	}
	// Take the space only once every replica is known to fit.
	for _, n := range sortedKeys(rd.replicas) {
		r := rd.replicas[n]
		e.pools[poolKey{n, g.pool}].free -= sizeKiB
		r.nodeID = rd.nextID
		rd.nextID++
		r.uuid, r.volUUID = e.uuid(), e.uuid()
		r.created = e.now
	}
	e.nextPort++
	e.rds[name] = rd
	return nil
}

// ReplicaNodes lists the nodes holding a replica of resource, sorted.
func (e *Emulator) ReplicaNodes(resource string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	rd, ok := e.rds[resource]
	if !ok {
		return nil
	}
	return sortedKeys(rd.replicas)
}

// PoolFree is the free capacity of a node's storage pool in KiB, and
// whether the pool exists.
func (e *Emulator) PoolFree(nodeName, storagePool string) (int64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.pools[poolKey{nodeName, storagePool}]
	if !ok {
		return 0, false
	}
	return p.free, true
}

// PlaceCount is a resource group's place count, and whether it exists.
func (e *Emulator) PlaceCount(groupName string) (int, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.groups[groupName]
	if !ok {
		return 0, false
	}
	return int(g.placeCount), true
}

// Now is how much virtual time has passed since the emulator started.
func (e *Emulator) Now() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

// Advance moves the virtual clock forward by d: every resync that can run
// progresses at its rate and a replica that reaches 100 % is UpToDate.
func (e *Emulator) Advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.advance(d)
}

func (e *Emulator) advance(d time.Duration) {
	if d < 0 {
		return
	}
	e.now += d
	for _, rd := range e.rds {
		rate := e.rate
		if rd.rate != nil {
			rate = *rd.rate
		}
		for _, r := range rd.replicas {
			if r.upToDate || !e.canSync(rd, r) {
				continue
			}
			r.done += rate * d.Seconds()
			if r.done >= 100 || math.IsInf(rate, 1) {
				r.upToDate, r.done, r.source = true, 100, ""
			}
		}
	}
}

// canSync reports whether r's resync can progress now.
func (e *Emulator) canSync(rd *resourceDef, r *replica) bool {
	if rd.stalled || len(r.forced) > 0 || r.standAlone || !e.nodes[r.node].online {
		return false
	}
	src, ok := rd.replicas[r.source]
	return ok && src.upToDate && !src.standAlone && e.nodes[src.node].online
}

// SetSyncRate sets the resync rate of one resource, in percent per
// second of virtual time, over the emulator's.
func (e *Emulator) SetSyncRate(resource string, pct float64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	rd, ok := e.rds[resource]
	if !ok {
		return fmt.Errorf("set sync rate: no resource %q", resource)
	}
	rd.rate = &pct
	return nil
}

// SetNodeOnline takes a node offline (connection_status OFFLINE; its
// peers see their connections to it Connecting and its replicas report
// no state) or back online.
func (e *Emulator) SetNodeOnline(name string, online bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, ok := e.nodes[name]
	if !ok {
		return fmt.Errorf("set node online: no node %q", name)
	}
	n.online = online
	return nil
}

// StallSync stops (or lets go on) the resyncs of resource: done_percentage
// stays where it is and the replica stays Inconsistent and SyncTarget.
func (e *Emulator) StallSync(resource string, stalled bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	rd, ok := e.rds[resource]
	if !ok {
		return fmt.Errorf("stall sync: no resource %q", resource)
	}
	rd.stalled = stalled
	return nil
}

// SetStandAlone makes the replica of resource on node StandAlone (every
// connection connected false, message StandAlone; its peers see it
// Connecting) or connects it again. A StandAlone replica does not resync.
func (e *Emulator) SetStandAlone(resource, nodeName string, standAlone bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.replica(resource, nodeName)
	if err != nil {
		return fmt.Errorf("set stand-alone: %w", err)
	}
	r.standAlone = standAlone
	return nil
}

// SetReplicationState pins the replication state that the replica of
// resource on node reports towards peer (for instance WFBitMapT; the peer
// then reports the mirrored state, WFBitMapS); an empty state removes the
// pin. A replica with a pinned state does not resync.
func (e *Emulator) SetReplicationState(resource, nodeName, peer, state string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.replica(resource, nodeName)
	if err != nil {
		return fmt.Errorf("set replication state: %w", err)
	}
	if _, err := e.replica(resource, peer); err != nil {
		return fmt.Errorf("set replication state: peer: %w", err)
	}
	if state == "" {
		delete(r.forced, peer)
		return nil
	}
	if r.forced == nil {
		r.forced = map[string]string{}
	}
	r.forced[peer] = state
	return nil
}

// SetPoolFree sets the free capacity of a node's storage pool, in KiB.
func (e *Emulator) SetPoolFree(nodeName, storagePool string, freeKiB int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.pools[poolKey{nodeName, storagePool}]
	if !ok {
		return fmt.Errorf("set pool free: no storage pool %q on node %q", storagePool, nodeName)
	}
	p.free = freeKiB
	return nil
}

// FailNext makes the next n requests whose method (any when empty) and
// URL path (a path.Match pattern, such as
// "/v1/resource-definitions/*/autoplace") match answer 500 with an
// ApiCallRc error (FAIL_UNKNOWN_ERROR), changing nothing.
func (e *Emulator) FailNext(method, pattern string, n int) {
	e.addFault(&fault{kind: faultFail, method: method, pattern: pattern, left: n})
}

// HangNext makes the next n matching requests (as FailNext matches) wait
// before they are served: until their client gives up (the request's
// context ends; nothing changes then), the emulator closes, or d passes
// (then they are served as usual). d = 0 waits for the first two only.
func (e *Emulator) HangNext(method, pattern string, n int, d time.Duration) {
	e.addFault(&fault{kind: faultHang, method: method, pattern: pattern, left: n, delay: d})
}

// HangAfterNext makes the next n matching requests take effect at once and
// then hold their answer back as HangNext does: the client times out
// although the change was made (linstor-server#104).
func (e *Emulator) HangAfterNext(method, pattern string, n int, d time.Duration) {
	e.addFault(&fault{kind: faultHangAfter, method: method, pattern: pattern, left: n, delay: d})
}

func (e *Emulator) addFault(f *fault) {
	if f.left <= 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, f)
}

// takeFault consumes and returns the first fault matching the request.
func (e *Emulator) takeFault(method, urlPath string) *fault {
	for i, f := range e.faults {
		if f.method != "" && f.method != method {
			continue
		}
		if ok, err := path.Match(f.pattern, urlPath); err != nil || !ok {
			continue
		}
		f.left--
		if f.left == 0 {
			e.faults = append(e.faults[:i:i], e.faults[i+1:]...)
		}
		return f
	}
	return nil
}

// Calls lists every request received so far, in the order they arrived.
func (e *Emulator) Calls() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Call, 0, len(e.calls))
	for _, c := range e.calls {
		out = append(out, c.clone())
	}
	return out
}

// Mutations lists the requests that changed state, in arrival order.
func (e *Emulator) Mutations() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Call
	for _, c := range e.calls {
		if c.Mutation {
			out = append(out, c.clone())
		}
	}
	return out
}

// ResetCalls forgets the requests received so far.
func (e *Emulator) ResetCalls() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = nil
}

func (c *Call) clone() Call {
	out := *c
	out.Placed = append([]Placement(nil), c.Placed...)
	return out
}

func (e *Emulator) replica(resource, nodeName string) (*replica, error) {
	rd, ok := e.rds[resource]
	if !ok {
		return nil, fmt.Errorf("no resource %q", resource)
	}
	r, ok := rd.replicas[nodeName]
	if !ok {
		return nil, fmt.Errorf("resource %q has no replica on node %q", resource, nodeName)
	}
	return r, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
