package linux

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Need is what the kernel requires before an option may change.
type Need int

// The needs, from least to most disruptive.
const (
	// Live: the option changes on a bond that is up with its slaves.
	Live Need = iota
	// Down: the bond must be down (BOND_OPTFLAG_IFDOWN).
	Down
	// NoSlaves: the slaves must be released first (BOND_OPTFLAG_NOSLAVES);
	// the bond is down meanwhile.
	NoSlaves
)

// String names the need as messages do.
func (n Need) String() string {
	switch n {
	case Live:
		return "live"
	case Down:
		return "bond down"
	default:
		return "slaves released"
	}
}

// optionRule is the kernel's rule for one bonding option
// (drivers/net/bonding/bond_options.c): what it needs and the modes it is
// valid in (nil: every mode).
type optionRule struct {
	need  Need
	modes []v1.BondMode
	// values, when set, are the only values the option takes.
	values []string
	// numeric options take a non-negative integer.
	numeric bool
}

// optionRules are the options Nodewright changes, by their sysfs names.
// An option not listed is refused: the agent changes only what it knows
// the kernel's rules for.
var optionRules = map[string]optionRule{
	"miimon":           {need: Live, numeric: true},
	"updelay":          {need: Live, numeric: true},
	"downdelay":        {need: Live, numeric: true},
	"min_links":        {need: Live, numeric: true},
	"xmit_hash_policy": {need: Live, values: []string{"layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac"}},
	"lacp_rate":        {need: Down, modes: []v1.BondMode{v1.Bond8023AD}, values: []string{"slow", "fast"}},
	"ad_select":        {need: Down, modes: []v1.BondMode{v1.Bond8023AD}, values: []string{"stable", "bandwidth", "count"}},
	"primary":          {need: Live, modes: []v1.BondMode{v1.BondActiveBackup, v1.BondBalanceTLB, v1.BondBalanceALB}},
	"fail_over_mac":    {need: NoSlaves, values: []string{"none", "active", "follow"}},
}

// KnownOptions lists the options Plan accepts, sorted.
func KnownOptions() []string { return slices.Sorted(maps.Keys(optionRules)) }

// Change is what a task asks of a bond.
type Change struct {
	// Mode is the target mode.
	Mode v1.BondMode
	// Options are set on top of the bond's current ones (sysfs names).
	Options map[string]string
}

// Step is one option to send, with what it needs.
type Step struct {
	// Option is the sysfs name ("mode" for the mode itself).
	Option string
	// Value is the value to set.
	Value string
	// Need is what the kernel requires first.
	Need Need
}

// Plan is the smallest set of changes that turns a bond into the target,
// with the most disruptive need among them.
type Plan struct {
	// Steps are the options that differ, mode first when it differs.
	Steps []Step
	// Need is the most disruptive need of the steps (Live when none).
	Need Need
}

// Empty reports whether nothing changes.
func (p Plan) Empty() bool { return len(p.Steps) == 0 }

// PlanChange classifies the change of a bond in state cur to the target by
// the kernel's rules, before anything is touched. It refuses an unknown
// mode or option, a bad value, an option the target mode does not
// support, and a primary that is not one of the bond's slaves.
func PlanChange(cur *State, to Change) (Plan, error) {
	if !slices.Contains(v1.BondModes, to.Mode) {
		return Plan{}, fmt.Errorf("bond %s: mode %q is not a bonding mode", cur.Name, to.Mode)
	}
	var p Plan
	if cur.Mode != to.Mode {
		p.Steps = append(p.Steps, Step{Option: "mode", Value: string(to.Mode), Need: NoSlaves})
	}
	for _, name := range slices.Sorted(maps.Keys(to.Options)) {
		value := to.Options[name]
		r, ok := optionRules[name]
		if !ok {
			return Plan{}, fmt.Errorf("bond %s: option %q is not one the agent changes (known: %s)", cur.Name, name, strings.Join(KnownOptions(), ", "))
		}
		if r.modes != nil && !slices.Contains(r.modes, to.Mode) {
			return Plan{}, fmt.Errorf("bond %s: option %s is not valid in mode %s (only in %s); the kernel refuses it", cur.Name, name, to.Mode, joinModes(r.modes))
		}
		if err := r.check(value); err != nil {
			return Plan{}, fmt.Errorf("bond %s: option %s: %w", cur.Name, name, err)
		}
		if name == "primary" && value != "" && !slices.Contains(cur.Slaves, value) {
			return Plan{}, fmt.Errorf("bond %s: primary %q is not one of its slaves (%s)", cur.Name, value, strings.Join(cur.Slaves, ", "))
		}
		if cur.Options[name] == value && cur.Mode == to.Mode {
			continue
		}
		p.Steps = append(p.Steps, Step{Option: name, Value: value, Need: r.need})
	}
	for _, s := range p.Steps {
		p.Need = max(p.Need, s.Need)
	}
	return p, nil
}

func (r optionRule) check(value string) error {
	switch {
	case r.numeric:
		n := 0
		if _, err := fmt.Sscanf(value, "%d", &n); err != nil || n < 0 || fmt.Sprint(n) != value {
			return fmt.Errorf("%q is not a non-negative integer", value)
		}
	case r.values != nil && !slices.Contains(r.values, value):
		return fmt.Errorf("%q is not one of %s", value, strings.Join(r.values, ", "))
	}
	return nil
}

func joinModes(ms []v1.BondMode) string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return strings.Join(out, ", ")
}
