package simhost

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nodewright/nodewright/agent"
	"github.com/nodewright/nodewright/agent/drbd"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Host is a simulated node: its bonds live in memory. It is safe for
// concurrent use.
type Host struct {
	mu         sync.Mutex
	bonds      []v1.Bond
	journal    []Entry
	probeFault map[probeKey]error
	setFault   error
	setHold    *Hold
	probeHold  *Hold
	clock      func() time.Time
	// drbd is the simulated DRBD: nil when the node has none (see
	// SetDRBD); drbdFault, when set, is what a read returns instead.
	drbd      []drbd.Resource
	drbdFault error
}

var _ agent.Host = (*Host)(nil)

// Entry records one SetBondMode that changed a bond (or set it to the mode
// it had): when, which bond, and from and to which mode.
type Entry struct {
	// Time is when the mode was set, by the host's clock.
	Time time.Time
	// Bond is the bond's name.
	Bond string
	// From is the mode before.
	From v1.BondMode
	// To is the mode set.
	To v1.BondMode
}

type probeKey struct {
	kind   agent.ProbeKind
	target string
}

// New returns a simulated host with the given bonds. A bond without slaves
// gets two simulated ones (sim-<bond>-a and sim-<bond>-b), since a bond
// always has members.
func New(bonds ...v1.Bond) *Host {
	h := &Host{probeFault: map[probeKey]error{}, clock: time.Now}
	for _, b := range bonds {
		b = *b.DeepCopy()
		if len(b.Slaves) == 0 {
			b.Slaves = []string{"sim-" + b.Name + "-a", "sim-" + b.Name + "-b"}
		}
		if i := h.index(b.Name); i >= 0 {
			h.bonds[i] = b
			continue
		}
		h.bonds = append(h.bonds, b)
	}
	return h
}

// FromProfile returns a simulated host seeded with the bonds the profile
// gives the named node. It is an error when the profile has no such node.
func FromProfile(p *v1.EdgeProfile, node string) (*Host, error) {
	if p == nil {
		return nil, fmt.Errorf("simhost: no profile to seed node %s from", node)
	}
	for _, n := range p.Spec.Nodes {
		if n.Name == node {
			return New(n.Bonds...), nil
		}
	}
	return nil, fmt.Errorf("simhost: profile of site %s has no node %s", p.Spec.Site, node)
}

// SetClock sets the clock journal entries are stamped with (default
// time.Now).
func (h *Host) SetClock(clock func() time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clock = clock
}

// Bonds returns a copy of the bonds, in the order they were given.
func (h *Host) Bonds(ctx context.Context) ([]v1.Bond, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]v1.Bond, len(h.bonds))
	for i := range h.bonds {
		h.bonds[i].DeepCopyInto(&out[i])
	}
	return out, nil
}

// BondMode returns the named bond's mode.
func (h *Host) BondMode(ctx context.Context, bond string) (v1.BondMode, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	i := h.index(bond)
	if i < 0 {
		return "", h.noBond(bond)
	}
	return h.bonds[i].Mode, nil
}

// Mode returns the named bond's mode and whether the bond exists; unlike
// BondMode it needs no context, for tests.
func (h *Host) Mode(bond string) (v1.BondMode, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := h.index(bond)
	if i < 0 {
		return "", false
	}
	return h.bonds[i].Mode, true
}

// SetBondMode sets the named bond's mode and records it in the journal.
// While a hold from HoldSets is in place it first waits for its release;
// if ctx ends meanwhile it returns ctx's error and changes nothing. A fault
// from FailSet is returned without changing anything.
func (h *Host) SetBondMode(ctx context.Context, bond string, mode v1.BondMode) error {
	h.mu.Lock()
	hold := h.setHold
	h.mu.Unlock()
	if err := hold.wait(ctx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !slices.Contains(v1.BondModes, mode) {
		return fmt.Errorf("simulated host: %q is not a bond mode", mode)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.setFault != nil {
		return h.setFault
	}
	i := h.index(bond)
	if i < 0 {
		return h.noBond(bond)
	}
	h.journal = append(h.journal, Entry{Time: h.clock(), Bond: bond, From: h.bonds[i].Mode, To: mode})
	h.bonds[i].Mode = mode
	return nil
}

// Probe succeeds unless a fault from FailProbe matches it (by kind and
// target, or by kind alone when the fault's target was ""). While a hold
// from HoldProbes is in place it first waits for its release; if ctx ends
// meanwhile it returns ctx's error.
func (h *Host) Probe(ctx context.Context, p agent.Probe) error {
	h.mu.Lock()
	hold := h.probeHold
	h.mu.Unlock()
	if err := hold.wait(ctx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err, ok := h.probeFault[probeKey{p.Kind, p.Target}]; ok {
		return err
	}
	if err, ok := h.probeFault[probeKey{p.Kind, ""}]; ok {
		return err
	}
	return nil
}

// FailProbe makes probes of kind at target fail with err; an empty target
// fails every probe of that kind. A nil err clears that fault.
func (h *Host) FailProbe(kind agent.ProbeKind, target string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		delete(h.probeFault, probeKey{kind, target})
		return
	}
	h.probeFault[probeKey{kind, target}] = err
}

// FailSet makes every SetBondMode fail with err, changing nothing; a nil
// err clears the fault.
func (h *Host) FailSet(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.setFault = err
}

// ClearFaults removes every fault set with FailProbe and FailSet.
func (h *Host) ClearFaults() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.probeFault = map[probeKey]error{}
	h.setFault = nil
}

// Journal returns every mode change so far, oldest first.
func (h *Host) Journal() []Entry {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.journal)
}

// HoldSets makes SetBondMode calls wait, before they change anything,
// until the returned hold is released. It replaces an earlier hold on
// SetBondMode, releasing it.
func (h *Host) HoldSets() *Hold {
	hold := newHold()
	h.mu.Lock()
	old := h.setHold
	h.setHold = hold
	h.mu.Unlock()
	old.Release()
	return hold
}

// HoldProbes makes Probe calls wait until the returned hold is released.
// It replaces an earlier hold on Probe, releasing it.
func (h *Host) HoldProbes() *Hold {
	hold := newHold()
	h.mu.Lock()
	old := h.probeHold
	h.probeHold = hold
	h.mu.Unlock()
	old.Release()
	return hold
}

// index returns the position of the named bond, or -1. The caller holds
// h.mu.
func (h *Host) index(bond string) int {
	return slices.IndexFunc(h.bonds, func(b v1.Bond) bool { return b.Name == bond })
}

func (h *Host) noBond(bond string) error {
	names := make([]string, len(h.bonds))
	for i, b := range h.bonds {
		names[i] = b.Name
	}
	return fmt.Errorf("simulated host has no bond %q (it has %v)", bond, names)
}

// Hold blocks calls into the host until Release; see Host.HoldSets and
// Host.HoldProbes.
type Hold struct {
	enterOnce   sync.Once
	releaseOnce sync.Once
	entered     chan struct{}
	released    chan struct{}
}

func newHold() *Hold {
	return &Hold{entered: make(chan struct{}), released: make(chan struct{})}
}

// Entered is closed when the first call reaches the hold.
func (h *Hold) Entered() <-chan struct{} {
	return h.entered
}

// Release lets every waiting and later call through. It may be called more
// than once, and on a nil Hold.
func (h *Hold) Release() {
	if h == nil {
		return
	}
	h.releaseOnce.Do(func() { close(h.released) })
}

// wait blocks until the hold is released or ctx ends; a nil hold does not
// block.
func (h *Hold) wait(ctx context.Context) error {
	if h == nil {
		return nil
	}
	h.enterOnce.Do(func() { close(h.entered) })
	select {
	case <-h.released:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
