package e2e_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/reconciler/audit"
	"github.com/nodewright/nodewright/reconciler/bondflip"
	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/fleet"
	"github.com/nodewright/nodewright/test/stack"
)

var seq atomic.Int32

// newStack builds a fleet with the given operations and a stack that
// follows it, with a fresh namespace and cluster name.
func newStack(t *testing.T, fo fleet.Options, change func(*stack.Options)) *stack.Stack {
	t.Helper()
	return newStackFor(t, fleet.New(t, fo), change)
}

func nsName(n int32) string      { return fmt.Sprintf("t%d", n) }
func clusterName(n int32) string { return fmt.Sprintf("cluster-%d", n) }

func noVMProtection(path, content string) string {
	if path == fleet.BondFlip {
		return strings.Replace(content, "vmProtection: LiveMigrate", "vmProtection: None", 1)
	}
	return content
}

func TestBondFlipWaitsForApprovalsThenSucceeds(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, fleet.Options{Operations: []string{fleet.BondFlip}, AnyTime: true, Edit: noVMProtection}, nil)
	_, err := s.StartReconciler(nil)
	require.NoError(t, err)

	plan := &v1.BondModeFlipPlan{}
	require.NoError(t, s.WaitPhase(ctx, plan, "bond0-to-lacp", 30*time.Second, "AwaitingApproval"))
	assert.Equal(t, s.Fleet.Work.BlobID("HEAD", fleet.BondFlip), plan.Annotations[v1.AnnotationBlob])
	assert.Contains(t, plan.Annotations[v1.AnnotationApprovals], "needs 2 more")
	assert.Empty(t, s.Hosts["node-a"].Journal(), "nothing touched before approval")

	// One approval is not enough.
	s.Fleet.Approve(fleet.BondFlip, s.Fleet.Alice)
	require.NoError(t, s.Kick(ctx))
	require.Eventually(t, func() bool {
		_ = s.Operation(ctx, plan, "bond0-to-lacp")
		return strings.Contains(plan.Annotations[v1.AnnotationApprovals], "needs 1 more")
	}, 30*time.Second, 50*time.Millisecond)
	assert.Equal(t, "AwaitingApproval", plan.Status.Phase)

	s.Fleet.Approve(fleet.BondFlip, s.Fleet.Carol)
	require.NoError(t, s.Kick(ctx))
	require.NoError(t, s.WaitPhase(ctx, plan, "bond0-to-lacp", 60*time.Second, "Succeeded", "Halted"))
	require.Equal(t, "Succeeded", plan.Status.Phase, "%+v", plan.Status.Conditions)

	for _, n := range fleet.Nodes {
		mode, _ := s.Hosts[n].Mode("bond0")
		assert.Equal(t, v1.Bond8023AD, mode, n)
		assert.Len(t, s.Hosts[n].Journal(), 1, "node %s flipped exactly once", n)
	}
	assert.Equal(t, bondFlipWalk, walk(plan.Status.Audit))
	assertTransitionsRecorded(t, bondflip.Table, plan.Status.Audit)
	assertChain(t, s)
}

// assertTransitionsRecorded checks an operation's audit records form one
// unbroken walk through its kind's table from "": every record starts
// where the previous one ended (so no transition went unrecorded) and
// every step is allowed by the table.
func assertTransitionsRecorded(t *testing.T, table *phase.Table, recs []v1.AuditRecord) {
	t.Helper()
	require.NotEmpty(t, recs)
	prev := recs[0].From
	if recs[0].Seq == 1 || prev == "" {
		assert.Equal(t, "", prev, "the first record starts from nothing")
		assert.Equal(t, string(table.Initial), recs[0].To)
	}
	for i, r := range recs {
		assert.Equal(t, prev, r.From, "record %d (seq %d) starts where the one before ended", i, r.Seq)
		if r.From != "" {
			assert.True(t, table.Allowed(phase.Phase(r.From), phase.Phase(r.To)), "%s → %s is in the table", r.From, r.To)
		}
		assert.NotEmpty(t, r.Hash)
		prev = r.To
	}
}

// bondFlipWalk is the phases a three-node bond flip enters, one node at a
// time, from its creation to Succeeded.
var bondFlipWalk = []string{"Pending", "AwaitingApproval", "Preflight",
	"ProtectVMs", "Flip", "Verify", "NodeDone",
	"ProtectVMs", "Flip", "Verify", "NodeDone",
	"ProtectVMs", "Flip", "Verify", "NodeDone", "Succeeded"}

// walk returns the phases entered, in the order of the audit records.
func walk(recs []v1.AuditRecord) []string {
	var phases []string
	for _, r := range recs {
		phases = append(phases, r.To)
	}
	return phases
}

// assertChain checks the cluster's audit chain is unbroken, in the
// cluster object and in the JSONL sink.
func assertChain(t *testing.T, s *stack.Stack) {
	t.Helper()
	nc := &v1.NodewrightCluster{}
	require.NoError(t, s.Client.Get(context.Background(), client.ObjectKey{Name: s.Name}, nc))
	require.NotEmpty(t, nc.Audit.Recent)
	require.NoError(t, audit.Verify(nc.Audit.Recent))
	require.Equal(t, int64(1), nc.Audit.Recent[0].Seq)
	require.Eventually(t, func() bool {
		f, err := os.Open(s.AuditFile)
		if err != nil {
			return false
		}
		defer f.Close()
		recs, err := audit.ParseJSONL(s.AuditFile, f)
		return err == nil && len(recs) == int(nc.Audit.Seq) && audit.Verify(recs) == nil
	}, 10*time.Second, 50*time.Millisecond, "the JSONL sink holds the whole chain")
}
