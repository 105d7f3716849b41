package bondflip

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewright/nodewright/agent/action"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// The FlipBond task the reconciler writes is what the agent reads back.
func TestFlipTaskParamsReadBackByTheAgent(t *testing.T) {
	no := false
	p := &v1.BondModeFlipPlan{Spec: v1.BondModeFlipPlanSpec{Bond: "bond0", FromMode: "active-backup", ToMode: "802.3ad",
		Nodes: []string{"node-a"}, RevertAfter: metav1.Duration{Duration: 90 * time.Second},
		Probes: v1.Probes{Gateway: "10.0.0.1", Peers: []string{"node-b", "node-c"}, APIServer: &no, Timeout: metav1.Duration{Duration: 3 * time.Second}}}}
	step := flipStep(p, "node-a", 1, time.Unix(0, 0))
	got, err := action.ParseFlipBond(step.Params)
	require.NoError(t, err)
	assert.Equal(t, action.FlipBond{Bond: "bond0", FromMode: "active-backup", ToMode: "802.3ad", RevertAfter: 90 * time.Second,
		Gateway: "10.0.0.1", Peers: []string{"node-b", "node-c"}, APIServer: false, ProbeTimeout: 3 * time.Second}, got)
}
