package gates

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/source/trust"
)

const policyYAML = `apiVersion: nodewright.io/v1alpha1
kind: TrustPolicy
version: 1
principals:
  - name: alice
    keys: [{ssh: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAbNt5YlpDSGflh1aLcLeh2bK1fREzuU+X++ey1gSTLK alice"}]
  - name: bob
    keys: [{ssh: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFc41i/Ek2Gv1jf3daPCaU6/oaaj2b1hs2xPIr/HhV1f bob", revoked: true}]
  - name: carol
    keys: [{ssh: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGtxkWp0bm9vjWBZS+QWgJCyJ3sdUP19NjJZTbLeGOiS carol"}]
  - name: dave
    keys: [{ssh: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMnbE1FVXbg5YFXhtXxYrvmZQ8F6i7wB0jhv6qTiLxJ4 dave"}]
roles:
  committers:   {principals: [alice], threshold: 1}
  approvers:    {principals: [alice, bob, carol], threshold: 2}
  trust-admins: {principals: [alice], threshold: 1}
operations:
  BondModeFlipPlan: {role: approvers, threshold: 2}
`

func policy(t *testing.T) *trust.Policy {
	p, err := trust.Parse("trust.yaml", []byte(policyYAML))
	require.NoError(t, err)
	return p
}

// unrevoked is the test policy with bob's key not revoked.
func unrevoked(t *testing.T) *trust.Policy {
	p, err := trust.Parse("trust.yaml", []byte(strings.Replace(policyYAML, ", revoked: true", "", 1)))
	require.NoError(t, err)
	return p
}

func keyOf(t *testing.T, p *trust.Policy, name string) string {
	for _, pr := range p.Principals {
		if pr.Name == name {
			h, _ := p.Keyring().HolderByID(sshFingerprint(t, pr.Keys[0].SSH))
			return h.ID
		}
	}
	t.Fatalf("no principal %s", name)
	return ""
}

func base(t *testing.T) Input {
	minReady := int32(2)
	return Input{
		Now: time.Date(2026, 11, 24, 2, 30, 0, 0, time.UTC), // a Tuesday
		Operation: Operation{Kind: v1.KindBondModeFlipPlan, Name: "flip", Path: "sites/s/operations/flip.yaml", Blob: "b2",
			Author: "alice", Nodes: []string{"node-a", "node-b", "node-c"}, Disruptive: true, MaxUnavailable: 1},
		Profile: &v1.EdgeProfile{Spec: v1.EdgeProfileSpec{Site: "s",
			MaintenanceWindows: []v1.MaintenanceWindow{{Days: []v1.Weekday{"Tue"}, Start: "02:00", Duration: metav1.Duration{Duration: 3 * time.Hour}, TimeZone: "UTC"}},
			Health:             v1.HealthThresholds{MinReadyNodes: &minReady}}},
		Policy:    policy(t),
		Approvals: []Approval{{Principal: "carol", Blob: "b2"}},
		Health:    Health{Reported: true, Nodes: map[string]bool{"node-a": true, "node-b": true, "node-c": true}},
	}
}

// signed gives every approval without a key the key its principal holds
// in the policy, as the approvals index records them.
func signed(t *testing.T, in *Input) {
	for i, a := range in.Approvals {
		if a.Key == "" {
			in.Approvals[i].Key = keyOf(t, in.Policy, a.Principal)
		}
	}
}

func verdict(d Decision, gate string) Verdict {
	for _, v := range d.Verdicts {
		if v.Gate == gate {
			return v
		}
	}
	return Verdict{}
}

func TestGates(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Input)
		gate   string
		reason Reason
		msg    string
	}{
		{"missing approval", func(in *Input) {}, "approvals", ApprovalMissing, "needs 1 more approval from role approvers: any of bob (counted: carol)"},
		{"stale approval", func(in *Input) { in.Approvals = append(in.Approvals, Approval{Principal: "bob", Blob: "b1"}) }, "approvals", ApprovalStale, "approvals by bob are for an earlier version of sites/s/operations/flip.yaml"},
		{"self approval", func(in *Input) { in.Approvals = append(in.Approvals, Approval{Principal: "alice", Blob: "b2"}) }, "approvals", SelfApproval, "alice wrote this version and cannot approve it"},
		{"outside the role", func(in *Input) { in.Approvals = append(in.Approvals, Approval{Principal: "dave", Blob: "b2"}) }, "approvals", ApprovalMissing, "not counted, not in role approvers: dave"},
		{"one principal twice", func(in *Input) {
			in.Approvals = append(in.Approvals, Approval{Principal: "carol", Blob: "b2", Key: "other"})
		}, "approvals", ApprovalMissing, "needs 1 more"},
		{"stale source", func(in *Input) { in.Stale = "newest accepted commit is 80h old" }, "freshness", Stale, "80h old"},
		{"paused", func(in *Input) { in.Profile.Spec.Paused = true }, "pause", Paused, "site s is paused"},
		{"outside window", func(in *Input) { in.Now = in.Now.Add(4 * time.Hour) }, "window", OutsideWindow, "the next (Tue 02:00 for 3h, UTC) opens Tue 2026-12-01 02:00 UTC, in 163h30m0s"},
		{"kind without an approval rule", func(in *Input) { delete(in.Policy.Operations, v1.KindBondModeFlipPlan) }, "approvals", ApprovalMissing, "the trust policy names no approvers for BondModeFlipPlan; add operations.BondModeFlipPlan"},
		{"no health report", func(in *Input) { in.Health = Health{} }, "health", HealthBlocked, "no health report"},
		{"too few nodes ready", func(in *Input) { in.Health.Nodes["node-b"], in.Health.Nodes["node-c"] = false, false }, "health", HealthBlocked, "1 nodes Ready, the profile needs 2 (not Ready: node-b, node-c)"},
		{"drbd degraded", func(in *Input) { in.Health.DRBD = []DRBDResource{{Name: "pvc-1", Replicas: 3, UpToDate: 2}} }, "health", HealthBlocked, "DRBD resource pvc-1 has 2 of 3 replicas UpToDate"},
		{"other operation on the nodes", func(in *Input) {
			in.Health.InFlight = []Operation{{Kind: v1.KindReplicationUpgrade, Name: "r", Nodes: []string{"node-b"}}}
		}, "health", HealthBlocked, "ReplicationUpgrade r is in flight on node-b"},
		{"another disruptive operation", func(in *Input) {
			in.Health.InFlight = []Operation{{Kind: v1.KindVMVolumeMigration, Name: "m", Disruptive: true}}
		}, "blast-radius", BlastRadius, "VMVolumeMigration m is a disruptive operation in flight at this site; one at a time"},
		{"max unavailable", func(in *Input) { in.Health.Nodes["node-c"] = false }, "blast-radius", BlastRadius, "1 of its nodes are already down (node-c); another step would exceed maxUnavailable 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base(t)
			c.change(&in)
			signed(t, &in)
			d := All.Evaluate(in)
			assert.False(t, d.Allowed)
			v := verdict(d, c.gate)
			assert.False(t, v.Allowed, "%+v", v)
			assert.Equal(t, c.reason, v.Reason)
			assert.Contains(t, v.Message, c.msg)
		})
	}
}

func TestGatesAllow(t *testing.T) {
	in := base(t)
	in.Approvals = append(in.Approvals, Approval{Principal: "bob", Blob: "b2"})
	in.Policy = unrevoked(t)
	signed(t, &in)
	d := All.Evaluate(in)
	require.True(t, d.Allowed, "%+v", d)
	assert.Len(t, d.Verdicts, len(All.Gates()))
	assert.Equal(t, "2 of 2 approvals from role approvers: bob, carol", verdict(d, "approvals").Message)
}

func TestApprovalByAKeyThePolicyNoLongerListsDoesNotCount(t *testing.T) {
	in := base(t)
	in.Approvals = append(in.Approvals, Approval{Principal: "bob", Blob: "b2", Key: "SHA256:removed-since"})
	in.Policy = unrevoked(t)
	signed(t, &in)
	v := verdict(All.Evaluate(in), "approvals")
	assert.Equal(t, ApprovalMissing, v.Reason)
	assert.Contains(t, v.Message, "no longer lists for that principal: bob")
}

func TestSupersededApprovalDoesNotCount(t *testing.T) {
	in := base(t)
	in.Approvals = append(in.Approvals, Approval{Principal: "bob", Blob: "b2", Superseded: true})
	in.Policy = unrevoked(t)
	signed(t, &in)
	v := verdict(All.Evaluate(in), "approvals")
	assert.Equal(t, ApprovalStale, v.Reason, "%s", v.Message)
}

func TestRevokedKeyApprovalDoesNotCount(t *testing.T) {
	in := base(t)
	in.Approvals = append(in.Approvals, Approval{Principal: "bob", Blob: "b2", Key: keyOf(t, in.Policy, "bob")})
	signed(t, &in)
	v := verdict(All.Evaluate(in), "approvals")
	assert.Equal(t, ApprovalMissing, v.Reason)
	assert.Contains(t, v.Message, "signed with a key the policy revoked: bob")
}

func TestApprovalOfBothVersionsIsNotCalledStale(t *testing.T) {
	in := base(t)
	in.Approvals = append(in.Approvals, Approval{Principal: "carol", Blob: "b1"})
	signed(t, &in)
	v := verdict(All.Evaluate(in), "approvals")
	assert.Equal(t, ApprovalMissing, v.Reason, "carol's approval of the current version counts: %s", v.Message)
}

func TestStepInFlightFinishesThroughPauseAndWindow(t *testing.T) {
	in := base(t)
	in.Profile.Spec.Paused = true
	in.Now = in.Now.Add(4 * time.Hour)
	in.Operation.StepInProgress = true
	signed(t, &in)
	d := All.Evaluate(in)
	assert.True(t, verdict(d, "pause").Allowed)
	assert.True(t, verdict(d, "window").Allowed)
	assert.Contains(t, verdict(d, "window").Message, "no new node starts")
}

func TestWindowsAcrossTimeZonesAndDaylightSaving(t *testing.T) {
	win := func(day v1.Weekday, start string, hours int, tz string) []v1.MaintenanceWindow {
		return []v1.MaintenanceWindow{{Days: []v1.Weekday{day}, Start: start, Duration: metav1.Duration{Duration: time.Duration(hours) * time.Hour}, TimeZone: tz}}
	}
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return tm
	}
	cases := []struct {
		name    string
		windows []v1.MaintenanceWindow
		now     string
		open    bool
	}{
		{"Berlin winter: 02:00 CET is 01:00 UTC", win("Tue", "02:00", 2, "Europe/Berlin"), "2026-11-24T01:30:00Z", true},
		{"Berlin winter: before it opens", win("Tue", "02:00", 2, "Europe/Berlin"), "2026-11-24T00:59:00Z", false},
		{"Berlin summer: 02:00 CEST is 00:00 UTC", win("Tue", "02:00", 2, "Europe/Berlin"), "2026-07-07T00:30:00Z", true},
		{"Berlin summer: UTC 01:30 is 03:30 local, still open", win("Tue", "02:00", 2, "Europe/Berlin"), "2026-07-07T01:30:00Z", true},
		{"Chicago: Monday night local is Tuesday UTC", win("Mon", "22:00", 3, "America/Chicago"), "2026-11-24T05:00:00Z", true},
		{"window across midnight, next local day", win("Sat", "23:00", 4, "UTC"), "2026-11-29T02:00:00Z", true},
		{"window across midnight, after it closed", win("Sat", "23:00", 4, "UTC"), "2026-11-29T03:00:00Z", false},
		// 2026-03-29: Berlin clocks jump from 02:00 to 03:00. A window at
		// 02:30 opens at 03:30 CEST (01:30 UTC), the gap moved forward.
		{"spring forward: start in the skipped hour", win("Sun", "02:30", 1, "Europe/Berlin"), "2026-03-29T01:45:00Z", true},
		{"spring forward: not before the moved start", win("Sun", "02:30", 1, "Europe/Berlin"), "2026-03-29T00:45:00Z", false},
		// 2026-10-25: Berlin clocks fall back from 03:00 to 02:00. A 3h
		// window at 01:00 CEST (23:00 UTC) lasts three real hours, to 02:00 UTC.
		{"fall back: three real hours", win("Sun", "01:00", 3, "Europe/Berlin"), "2026-10-25T01:30:00Z", true},
		{"fall back: closed after three real hours", win("Sun", "01:00", 3, "Europe/Berlin"), "2026-10-25T02:00:00Z", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, open := OpenWindow(c.windows, at(c.now))
			assert.Equal(t, c.open, open)
		})
	}
	next, _, ok := NextWindow(win("Tue", "02:00", 2, "Europe/Berlin"), at("2026-11-24T03:00:00Z"))
	require.True(t, ok)
	assert.Equal(t, "2026-12-01T01:00:00Z", next.UTC().Format(time.RFC3339), "a week later, in UTC")
}
