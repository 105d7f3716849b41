package action

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// FlipBond is the parsed form of a FlipBond task's params: change Bond from
// FromMode to ToMode, probe, and revert when a probe fails or the change
// cannot be confirmed within RevertAfter.
type FlipBond struct {
	// Bond is the bonded interface, e.g. bond0.
	Bond string
	// FromMode is the mode the bond must run before the flip; the agent
	// reverts to it.
	FromMode v1.BondMode
	// ToMode is the mode the task sets.
	ToMode v1.BondMode
	// RevertAfter is the dead-man deadline, counted from the task's start:
	// unless the agent has reported Succeeded by then, it reverts.
	RevertAfter time.Duration
	// Gateway is the gateway address to probe; empty skips the probe.
	Gateway string
	// Peers are the node names to probe, in order.
	Peers []string
	// APIServer says whether to probe the Kubernetes API server.
	APIServer bool
	// ProbeTimeout bounds each probe.
	ProbeTimeout time.Duration
}

// ParamError says which parameter of a task is missing or bad; its message
// names the parameter and the value.
type ParamError struct {
	// Param is the parameter's key, e.g. revertAfter.
	Param string
	// Value is the value given ("" when missing).
	Value string
	// Reason says what is wrong with it.
	Reason string
}

// Error returns a message such as `param revertAfter "soon": not a Go
// duration (e.g. 90s, 5m)`.
func (e *ParamError) Error() string {
	if e.Value == "" && e.Reason == "is missing" {
		return fmt.Sprintf("param %s is missing", e.Param)
	}
	return fmt.Sprintf("param %s %q: %s", e.Param, e.Value, e.Reason)
}

// ifaceName is what Linux accepts as an interface name (IFNAMSIZ-1 bytes),
// as the EdgeProfile schema also spells it.
var ifaceName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,15}$`)

// maxDuration bounds revertAfter and probeTimeout: a dead-man switch of more
// than a day is a mistake, not a plan.
const maxDuration = 24 * time.Hour

// flipBondParams are the keys a FlipBond task may carry.
var flipBondParams = []string{
	v1.ParamBond, v1.ParamFromMode, v1.ParamToMode,
	v1.ParamRevertAfter, v1.ParamGateway, v1.ParamPeers,
	v1.ParamAPIServer, v1.ParamProbeTimeout,
}

// ParseFlipBond reads a FlipBond task's params. Required: bond, fromMode,
// toMode (two different kernel bond modes), revertAfter and probeTimeout
// (positive Go durations of at most 24h) and apiServer ("true" or "false").
// Optional: gateway (an IP address or DNS name) and peers (comma-separated
// node names; spaces around names and empty entries are ignored, repeats
// are dropped). An unknown key is an error too, as it means the reconciler
// asks for something this agent does not understand. Every error is a
// *ParamError (joined when several params are bad), so the message names
// each param and its value.
func ParseFlipBond(params map[string]string) (FlipBond, error) {
	var (
		f    FlipBond
		errs []error
	)
	bad := func(param, value, reason string) {
		errs = append(errs, &ParamError{Param: param, Value: value, Reason: reason})
	}
	required := func(param string) (string, bool) {
		v, ok := params[param]
		if !ok || v == "" {
			bad(param, "", "is missing")
			return "", false
		}
		return v, true
	}

	var unknown []string
	for k := range params {
		if !slices.Contains(flipBondParams, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		bad(k, params[k], "is not a FlipBond param (known: "+strings.Join(flipBondParams, ", ")+")")
	}

	if v, ok := required(v1.ParamBond); ok {
		if ifaceName.MatchString(v) {
			f.Bond = v
		} else {
			bad(v1.ParamBond, v, "not an interface name (1 to 15 of a-z A-Z 0-9 _ . -)")
		}
	}
	mode := func(param string) v1.BondMode {
		v, ok := required(param)
		if !ok {
			return ""
		}
		if !slices.Contains(v1.BondModes, v1.BondMode(v)) {
			bad(param, v, "not a bond mode (one of "+modeList()+")")
			return ""
		}
		return v1.BondMode(v)
	}
	f.FromMode = mode(v1.ParamFromMode)
	f.ToMode = mode(v1.ParamToMode)
	if f.FromMode != "" && f.FromMode == f.ToMode {
		bad(v1.ParamToMode, string(f.ToMode), "equals fromMode; there is nothing to flip")
	}
	duration := func(param string) time.Duration {
		v, ok := required(param)
		if !ok {
			return 0
		}
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			bad(param, v, "not a Go duration (e.g. 90s, 5m)")
		case d <= 0:
			bad(param, v, "must be positive")
		case d > maxDuration:
			bad(param, v, "must be at most 24h")
		default:
			return d
		}
		return 0
	}
	f.RevertAfter = duration(v1.ParamRevertAfter)
	f.ProbeTimeout = duration(v1.ParamProbeTimeout)

	if v, ok := required(v1.ParamAPIServer); ok {
		switch v {
		case "true":
			f.APIServer = true
		case "false":
		default:
			bad(v1.ParamAPIServer, v, `must be "true" or "false"`)
		}
	}
	if v := params[v1.ParamGateway]; v != "" {
		if validAddress(v) {
			f.Gateway = v
		} else {
			bad(v1.ParamGateway, v, "not an IP address or DNS name")
		}
	}
	if v := params[v1.ParamPeers]; v != "" {
		for p := range strings.SplitSeq(v, ",") {
			p = strings.TrimSpace(p)
			switch {
			case p == "":
			case len(validation.IsDNS1123Subdomain(p)) > 0:
				bad(v1.ParamPeers, v, fmt.Sprintf("%q is not a node name", p))
			case !slices.Contains(f.Peers, p):
				f.Peers = append(f.Peers, p)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return FlipBond{}, err
	}
	return f, nil
}

// Params returns the task params that ParseFlipBond reads back as f: the
// reconciler builds tasks with it, so both sides spell the params one way.
func (f FlipBond) Params() map[string]string {
	p := map[string]string{
		v1.ParamBond:         f.Bond,
		v1.ParamFromMode:     string(f.FromMode),
		v1.ParamToMode:       string(f.ToMode),
		v1.ParamRevertAfter:  f.RevertAfter.String(),
		v1.ParamAPIServer:    fmt.Sprint(f.APIServer),
		v1.ParamProbeTimeout: f.ProbeTimeout.String(),
	}
	if f.Gateway != "" {
		p[v1.ParamGateway] = f.Gateway
	}
	if len(f.Peers) > 0 {
		p[v1.ParamPeers] = strings.Join(f.Peers, ",")
	}
	return p
}

// Probes returns the probes the task runs after the flip, in order:
// gateway, API server (at apiServer), then each peer.
func (f FlipBond) Probes(apiServer string) []Probe {
	var probes []Probe
	if f.Gateway != "" {
		probes = append(probes, Probe{Kind: ProbeGateway, Target: f.Gateway})
	}
	if f.APIServer {
		probes = append(probes, Probe{Kind: ProbeAPIServer, Target: apiServer})
	}
	for _, p := range f.Peers {
		probes = append(probes, Probe{Kind: ProbePeer, Target: p})
	}
	return probes
}

// validAddress reports whether s is an IP address (without a zone) or a DNS
// name.
func validAddress(s string) bool {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Zone() == ""
	}
	return len(validation.IsDNS1123Subdomain(s)) == 0
}

func modeList() string {
	names := make([]string, len(v1.BondModes))
	for i, m := range v1.BondModes {
		names[i] = string(m)
	}
	return strings.Join(names, ", ")
}
