package linux

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func activeBackup() *State {
	return &State{Name: "bond0", Mode: v1.BondActiveBackup, Slaves: []string{"eth0", "eth1"},
		Options: map[string]string{"miimon": "100", "primary": "eth0", "xmit_hash_policy": "layer2", "fail_over_mac": "none"}}
}

func TestPlanChange(t *testing.T) {
	cases := []struct {
		name  string
		to    Change
		steps []Step
		need  Need
		err   string
	}{
		{name: "nothing to do", to: Change{Mode: v1.BondActiveBackup, Options: map[string]string{"miimon": "100"}}, need: Live},
		{name: "a live option only", to: Change{Mode: v1.BondActiveBackup, Options: map[string]string{"miimon": "200"}},
			steps: []Step{{"miimon", "200", Live}}, need: Live},
		{name: "mode change releases the slaves", to: Change{Mode: v1.Bond8023AD, Options: map[string]string{"lacp_rate": "fast"}},
			steps: []Step{{"mode", "802.3ad", NoSlaves}, {"lacp_rate", "fast", Down}}, need: NoSlaves},
		{name: "lacp_rate outside 802.3ad", to: Change{Mode: v1.BondBalanceRR, Options: map[string]string{"lacp_rate": "fast"}},
			err: "option lacp_rate is not valid in mode balance-rr (only in 802.3ad)"},
		{name: "ad_select outside 802.3ad", to: Change{Mode: v1.BondActiveBackup, Options: map[string]string{"ad_select": "count"}},
			err: "option ad_select is not valid in mode active-backup"},
		{name: "primary outside active-backup", to: Change{Mode: v1.Bond8023AD, Options: map[string]string{"primary": "eth1"}},
			err: "option primary is not valid in mode 802.3ad"},
		{name: "primary that is no slave", to: Change{Mode: v1.BondActiveBackup, Options: map[string]string{"primary": "eth9"}},
			err: `primary "eth9" is not one of its slaves (eth0, eth1)`},
		{name: "unknown option", to: Change{Mode: v1.BondActiveBackup, Options: map[string]string{"arp_ip_target": "10.0.0.1"}},
			err: `option "arp_ip_target" is not one the agent changes`},
		{name: "bad number", to: Change{Mode: v1.BondActiveBackup, Options: map[string]string{"miimon": "-1"}},
			err: `option miimon: "-1" is not a non-negative integer`},
		{name: "bad value", to: Change{Mode: v1.Bond8023AD, Options: map[string]string{"lacp_rate": "quick"}},
			err: `option lacp_rate: "quick" is not one of slow, fast`},
		{name: "unknown mode", to: Change{Mode: "lacp"}, err: `mode "lacp" is not a bonding mode`},
		{name: "fail_over_mac needs the slaves released", to: Change{Mode: v1.BondActiveBackup, Options: map[string]string{"fail_over_mac": "active"}},
			steps: []Step{{"fail_over_mac", "active", NoSlaves}}, need: NoSlaves},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := PlanChange(activeBackup(), c.to)
			if c.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.steps, p.Steps)
			assert.Equal(t, c.need, p.Need)
		})
	}
}

func TestRestorableKeepsOnlyWhatTheModeTakes(t *testing.T) {
	st := &State{Mode: v1.Bond8023AD, Options: map[string]string{"lacp_rate": "fast", "primary": "", "miimon": "100"}}
	assert.Equal(t, map[string]string{"lacp_rate": "fast", "miimon": "100"}, restorable(st))
	st = &State{Mode: v1.BondActiveBackup, Options: map[string]string{"lacp_rate": "fast", "primary": "eth1"}}
	assert.Equal(t, map[string]string{"primary": "eth1"}, restorable(st))
}

func TestLACPNegotiated(t *testing.T) {
	ok, _ := LACPState{Aggregators: map[string]uint16{"eth0": 1, "eth1": 1}, PartnerStates: map[string]uint16{"eth0": 0x3f, "eth1": 0x3d}}.Negotiated()
	assert.True(t, ok)
	ok, why := LACPState{Aggregators: map[string]uint16{"eth0": 1, "eth1": 2}, PartnerStates: map[string]uint16{"eth0": 0, "eth1": 0}}.Negotiated()
	assert.False(t, ok)
	assert.Contains(t, why, "partner port state 0x00")
	ok, why = LACPState{Aggregators: map[string]uint16{"eth0": 1, "eth1": 2}, PartnerStates: map[string]uint16{"eth0": 0x3f, "eth1": 0x3f}}.Negotiated()
	assert.False(t, ok)
	assert.Contains(t, why, "2 aggregators")
	ok, _ = LACPState{}.Negotiated()
	assert.False(t, ok)
}

func FuzzPlanChange(f *testing.F) {
	f.Add("802.3ad", "lacp_rate", "fast")
	f.Add("active-backup", "primary", "eth1")
	f.Fuzz(func(t *testing.T, mode, opt, value string) {
		p, err := PlanChange(activeBackup(), Change{Mode: v1.BondMode(mode), Options: map[string]string{opt: value}})
		if err != nil {
			return
		}
		for _, s := range p.Steps {
			if s.Option != "mode" {
				if _, ok := optionRules[s.Option]; !ok {
					t.Fatalf("planned an unknown option %q", s.Option)
				}
			}
			if s.Need > p.Need {
				t.Fatalf("step %v needs more than the plan %v", s, p.Need)
			}
		}
	})
}
