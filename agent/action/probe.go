package action

// ProbeKind says what a Probe checks.
type ProbeKind string

// The kinds of probes a FlipBond task runs after the flip, in this order.
const (
	// ProbeGateway checks the default gateway (Target is its address).
	ProbeGateway ProbeKind = "gateway"
	// ProbeAPIServer checks the Kubernetes API server (Target is its URL).
	ProbeAPIServer ProbeKind = "apiserver"
	// ProbePeer checks another node of the cluster (Target is its name).
	ProbePeer ProbeKind = "peer"
)

// Probe is one reachability check the agent asks of the Host.
type Probe struct {
	// Kind says what is checked.
	Kind ProbeKind
	// Target is the address, URL or node name checked.
	Target string
}

// String returns the probe as a message names it, e.g. "gateway 10.0.0.1".
func (p Probe) String() string {
	if p.Target == "" {
		return string(p.Kind)
	}
	return string(p.Kind) + " " + p.Target
}
