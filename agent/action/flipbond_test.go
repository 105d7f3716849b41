package action_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/agent/action"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func TestParseFlipBond(t *testing.T) {
	full := action.FlipBond{
		Bond:         "bond0",
		FromMode:     v1.BondActiveBackup,
		ToMode:       v1.Bond8023AD,
		RevertAfter:  90 * time.Second,
		Gateway:      "10.0.0.1",
		Peers:        []string{"node-b", "node-c"},
		APIServer:    true,
		ProbeTimeout: 5 * time.Second,
	}
	with := func(mods ...func(map[string]string)) map[string]string {
		p := full.Params()
		for _, m := range mods {
			m(p)
		}
		return p
	}
	set := func(k, v string) func(map[string]string) { return func(p map[string]string) { p[k] = v } }
	del := func(k string) func(map[string]string) { return func(p map[string]string) { delete(p, k) } }

	tests := []struct {
		name    string
		params  map[string]string
		want    action.FlipBond
		wantErr []string // every string must be in the error
	}{
		{name: "all params", params: with(), want: full},
		{
			name:   "optional probes left out",
			params: with(del(v1.ParamGateway), del(v1.ParamPeers), set(v1.ParamAPIServer, "false")),
			want:   action.FlipBond{Bond: "bond0", FromMode: full.FromMode, ToMode: full.ToMode, RevertAfter: full.RevertAfter, ProbeTimeout: full.ProbeTimeout},
		},
		{
			name:   "peers with spaces, empty entries and repeats",
			params: with(set(v1.ParamPeers, " node-b, ,node-c,node-b,")),
			want:   full,
		},
		{name: "IPv6 gateway", params: with(set(v1.ParamGateway, "fd00::1")), want: func() action.FlipBond { f := full; f.Gateway = "fd00::1"; return f }()},
		{name: "gateway by name", params: with(set(v1.ParamGateway, "gw.site.example")), want: func() action.FlipBond { f := full; f.Gateway = "gw.site.example"; return f }()},
		{name: "no params", params: nil, wantErr: []string{"param bond is missing", "param fromMode is missing", "param toMode is missing", "param revertAfter is missing", "param probeTimeout is missing", "param apiServer is missing"}},
		{name: "bad bond", params: with(set(v1.ParamBond, "bond0; reboot")), wantErr: []string{`param bond "bond0; reboot": not an interface name`}},
		{name: "long bond", params: with(set(v1.ParamBond, "bond0123456789ab")), wantErr: []string{`param bond "bond0123456789ab"`}},
		{name: "bad fromMode", params: with(set(v1.ParamFromMode, "mode4")), wantErr: []string{`param fromMode "mode4": not a bond mode (one of balance-rr, active-backup`}},
		{name: "same modes", params: with(set(v1.ParamToMode, "active-backup")), wantErr: []string{`param toMode "active-backup": equals fromMode`}},
		{name: "revertAfter not a duration", params: with(set(v1.ParamRevertAfter, "90")), wantErr: []string{`param revertAfter "90": not a Go duration`}},
		{name: "revertAfter negative", params: with(set(v1.ParamRevertAfter, "-5s")), wantErr: []string{`param revertAfter "-5s": must be positive`}},
		{name: "probeTimeout too long", params: with(set(v1.ParamProbeTimeout, "48h")), wantErr: []string{`param probeTimeout "48h": must be at most 24h`}},
		{name: "apiServer yes", params: with(set(v1.ParamAPIServer, "yes")), wantErr: []string{`param apiServer "yes": must be "true" or "false"`}},
		{name: "bad gateway", params: with(set(v1.ParamGateway, "10.0.0.1:53")), wantErr: []string{`param gateway "10.0.0.1:53": not an IP address or DNS name`}},
		{name: "gateway with zone", params: with(set(v1.ParamGateway, "fe80::1%eth0")), wantErr: []string{`param gateway "fe80::1%eth0"`}},
		{name: "bad peer", params: with(set(v1.ParamPeers, "node-b,Node_C")), wantErr: []string{`param peers "node-b,Node_C": "Node_C" is not a node name`}},
		{name: "unknown param", params: with(set("mtu", "9000")), wantErr: []string{`param mtu "9000": is not a FlipBond param`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := action.ParseFlipBond(tt.params)
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				var pe *action.ParamError
				assert.True(t, errors.As(err, &pe), "the error is a *ParamError")
				for _, want := range tt.wantErr {
					assert.Contains(t, err.Error(), want)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFlipBondProbesOrder(t *testing.T) {
	f := action.FlipBond{Gateway: "10.0.0.1", APIServer: true, Peers: []string{"b", "c"}}
	assert.Equal(t, []action.Probe{
		{Kind: action.ProbeGateway, Target: "10.0.0.1"},
		{Kind: action.ProbeAPIServer, Target: "https://api:6443"},
		{Kind: action.ProbePeer, Target: "b"},
		{Kind: action.ProbePeer, Target: "c"},
	}, f.Probes("https://api:6443"))
}

// FuzzParseFlipBond feeds the parser arbitrary params. It must never
// panic; what it accepts must satisfy the documented bounds and read back
// the same through Params; what it refuses must say which param.
func FuzzParseFlipBond(f *testing.F) {
	f.Add("bond0", "active-backup", "802.3ad", "90s", "10.0.0.1", "node-b,node-c", "true", "5s", "", "")
	f.Add("bond0", "802.3ad", "active-backup", "1m", "", "", "false", "1s", "", "")
	f.Add("", "", "", "", "", "", "", "", "extra", "x")
	f.Add("b", "balance-rr", "balance-rr", "-1s", "fe80::1%eth0", ",,", "TRUE", "25h", "bond", "bond1")
	f.Fuzz(func(t *testing.T, bond, from, to, revert, gateway, peers, apiServer, timeout, extraKey, extraValue string) {
		params := map[string]string{
			v1.ParamBond:         bond,
			v1.ParamFromMode:     from,
			v1.ParamToMode:       to,
			v1.ParamRevertAfter:  revert,
			v1.ParamGateway:      gateway,
			v1.ParamPeers:        peers,
			v1.ParamAPIServer:    apiServer,
			v1.ParamProbeTimeout: timeout,
		}
		if extraKey != "" {
			params[extraKey] = extraValue
		}
		got, err := action.ParseFlipBond(params)
		if err != nil {
			if !strings.Contains(err.Error(), "param ") {
				t.Fatalf("error names no param: %v", err)
			}
			var pe *action.ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *ParamError: %v", err)
			}
			return
		}
		if got.Bond == "" || got.FromMode == got.ToMode || got.RevertAfter <= 0 || got.ProbeTimeout <= 0 ||
			got.RevertAfter > 24*time.Hour || got.ProbeTimeout > 24*time.Hour {
			t.Fatalf("accepted out-of-bounds params %+v from %q", got, params)
		}
		again, err := action.ParseFlipBond(got.Params())
		if err != nil {
			t.Fatalf("Params() of %+v does not parse: %v", got, err)
		}
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("round trip changed %+v into %+v", got, again)
		}
	})
}
