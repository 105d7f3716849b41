package v1alpha1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/nodewright/nodewright/test/envtest"
)

// write is one write of an object: an edit of its content, sent as an
// update of the object or of its status subresource.
type write struct {
	status bool
	edit   func(obj map[string]any)
}

// celCase is one rule of the CRDs: the API server accepts good and refuses
// bad with message. A create case applies good and bad to base before
// creating it; an update case creates base, makes the before writes (each
// must be accepted), then sends good and bad as further writes. Good and
// bad run on objects of their own.
type celCase struct {
	name    string
	base    string
	create  bool
	before  []write
	good    write
	bad     write
	message string
}

// Bases: valid objects of each kind, with the fields the rules read.
const (
	taskBase = `apiVersion: nodewright.io/v1alpha1
kind: NodeTask
metadata: {namespace: default}
spec:
  nodeName: node-a
  operation: {kind: BondModeFlipPlan, name: bond0-to-lacp}
  action: FlipBond
  params: {bond: bond0, fromMode: active-backup, toMode: 802.3ad}
  deadline: "2030-01-01T10:00:00Z"
`
	flipBase = `apiVersion: nodewright.io/v1alpha1
kind: BondModeFlipPlan
metadata: {namespace: default}
spec:
  bond: bond0
  fromMode: active-backup
  toMode: 802.3ad
  nodes: [node-a, node-b, node-c]
  maxUnavailable: 1
  revertAfter: 2m
  probes: {timeout: 10s}
`
	replicationBase = `apiVersion: nodewright.io/v1alpha1
kind: ReplicationUpgrade
metadata: {namespace: default}
spec:
  resourceGroup: vm-disks
  fromPlaceCount: 2
  toPlaceCount: 3
  batchSize: 10
  syncTimeout: 1h
`
	migrationBase = `apiVersion: nodewright.io/v1alpha1
kind: VMVolumeMigration
metadata: {namespace: default}
spec:
  vm: {namespace: apps, name: db-0}
  targetStorageClass: linstor-r3
  mode: Auto
`
	profileBase = `apiVersion: nodewright.io/v1alpha1
kind: EdgeProfile
spec:
  site: edge-001
  clusterName: edge-001
  nodes:
    - {name: node-a, storagePools: [nvme]}
    - {name: node-b, storagePools: [nvme]}
    - {name: node-c, storagePools: [nvme]}
  resourceGroups:
    - {name: vm-disks, storagePool: nvme, placeCount: 2}
  maintenanceWindows:
    - {days: [Tue, Thu], start: "02:00", duration: 3h, timeZone: UTC}
  health: {minReadyNodes: 2}
`
	fleetSourceBase = `apiVersion: nodewright.io/v1alpha1
kind: FleetSource
metadata: {namespace: default}
spec:
  repo: https://git.example.test/fleet.git
  site: edge-001
  trustRoot: {name: trust-root, key: trust.yaml}
  interval: 1m
`
	clusterBase = `apiVersion: nodewright.io/v1alpha1
kind: NodewrightCluster
audit: {seq: 5, hash: abc}
`
)

// set sets the value at a dotted path; a path element that is a number
// indexes a list.
func set(path string, value any) func(map[string]any) {
	return func(obj map[string]any) {
		parts := strings.Split(path, ".")
		parent := walk(obj, parts[:len(parts)-1])
		parent[parts[len(parts)-1]] = value
	}
}

// del removes the field at a dotted path.
func del(path string) func(map[string]any) {
	return func(obj map[string]any) {
		parts := strings.Split(path, ".")
		delete(walk(obj, parts[:len(parts)-1]), parts[len(parts)-1])
	}
}

// walk returns the object at parts, creating the missing maps on the way.
func walk(obj map[string]any, parts []string) map[string]any {
	var cur any = obj
	for _, p := range parts {
		if list, ok := cur.([]any); ok {
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil {
				panic(fmt.Sprintf("list index %q: %v", p, err))
			}
			cur = list[i]
			continue
		}
		m := cur.(map[string]any)
		next, ok := m[p]
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		cur = next
	}
	return cur.(map[string]any)
}

// status replaces the status with the given YAML.
func status(doc string) write {
	return write{status: true, edit: func(obj map[string]any) {
		var s map[string]any
		if err := yaml.Unmarshal([]byte(doc), &s); err != nil {
			panic(err)
		}
		obj["status"] = s
	}}
}

func statusEdit(edits ...func(map[string]any)) write {
	return write{status: true, edit: func(obj map[string]any) {
		for _, e := range edits {
			e(obj)
		}
	}}
}

func objectEdit(edits ...func(map[string]any)) write {
	return write{edit: func(obj map[string]any) {
		for _, e := range edits {
			e(obj)
		}
	}}
}

const (
	started      = "2030-01-01T09:00:00Z"
	startedLater = "2030-01-01T09:30:00Z"
)

var celCases = []celCase{
	// NodeTask.
	{
		name: "task spec is immutable", base: taskBase,
		good:    objectEdit(set("metadata.labels", map[string]any{"team": "edge"})),
		bad:     objectEdit(set("spec.nodeName", "node-b")),
		message: "spec is immutable: a NodeTask is one step, a new step is a new task",
	},
	{
		name: "task params are immutable", base: taskBase,
		good:    objectEdit(set("spec.params.bond", "bond0")),
		bad:     objectEdit(set("spec.params.toMode", "balance-alb")),
		message: "spec is immutable: a NodeTask is one step, a new step is a new task",
	},
	{
		name: "task claim cannot move to another agent", base: taskBase,
		before:  []write{status("{phase: Claimed, claimedBy: agent-a}")},
		good:    statusEdit(set("status.phase", "Running")),
		bad:     statusEdit(set("status.claimedBy", "agent-b")),
		message: "status.claimedBy cannot change or be cleared once set",
	},
	{
		name: "task claim cannot be cleared", base: taskBase,
		before:  []write{status("{phase: Claimed, claimedBy: agent-a}")},
		good:    statusEdit(set("status.message", "claimed")),
		bad:     statusEdit(del("status.claimedBy")),
		message: "status.claimedBy cannot change or be cleared once set",
	},
	{
		name: "task claim cannot be dropped with the status", base: taskBase,
		before:  []write{status("{phase: Pending}"), status("{phase: Claimed, claimedBy: agent-a}")},
		good:    statusEdit(set("status.phase", "Running")),
		bad:     statusEdit(del("status")),
		message: "status.claimedBy cannot change or be cleared once set",
	},
	{
		name: "task claim set to empty", base: taskBase,
		before:  []write{status("{phase: Claimed, claimedBy: agent-a}")},
		good:    statusEdit(set("status.claimedBy", "agent-a"), set("status.phase", "Running")),
		bad:     statusEdit(set("status.claimedBy", "")),
		message: "status.claimedBy cannot change or be cleared once set",
	},
	{
		name: "succeeded task stays succeeded", base: taskBase,
		before: []write{
			status("{phase: Claimed, claimedBy: agent-a}"),
			status("{phase: Running, claimedBy: agent-a, startedAt: '2030-01-01T09:00:00Z'}"),
			status("{phase: Succeeded, claimedBy: agent-a, startedAt: '2030-01-01T09:00:00Z', finishedAt: '2030-01-01T09:01:00Z'}"),
		},
		good:    statusEdit(set("status.message", "bond0 runs 802.3ad")),
		bad:     statusEdit(set("status.phase", "Running")),
		message: "a finished NodeTask (Succeeded, Failed or Reverted) cannot move to another phase",
	},
	{
		name: "failed task stays failed", base: taskBase,
		before:  []write{status("{phase: Failed, claimedBy: agent-a, message: deadline passed}")},
		good:    statusEdit(set("status.message", "deadline passed before the agent started the task")),
		bad:     statusEdit(set("status.phase", "Pending")),
		message: "a finished NodeTask (Succeeded, Failed or Reverted) cannot move to another phase",
	},
	{
		name: "reverted task stays reverted", base: taskBase,
		before:  []write{status("{phase: Running, claimedBy: agent-a}"), status("{phase: Reverted, claimedBy: agent-a}")},
		good:    statusEdit(set("status.phase", "Reverted")),
		bad:     statusEdit(set("status.phase", "Succeeded")),
		message: "a finished NodeTask (Succeeded, Failed or Reverted) cannot move to another phase",
	},
	{
		name: "finished task keeps its phase", base: taskBase,
		before:  []write{status("{phase: Failed, claimedBy: agent-a}")},
		good:    statusEdit(set("status.finishedAt", "2030-01-01T09:01:00Z")),
		bad:     statusEdit(del("status.phase")),
		message: "a finished NodeTask (Succeeded, Failed or Reverted) cannot move to another phase",
	},
	{
		name: "unfinished task moves on; unknown phases stay refused", base: taskBase,
		before:  []write{status("{phase: Running, claimedBy: agent-a}")},
		good:    statusEdit(set("status.phase", "Failed")),
		bad:     statusEdit(set("status.phase", "Done")),
		message: "Unsupported value",
	},

	// Operations: startedAt stays.
	{
		name: "flip startedAt cannot change", base: flipBase,
		before:  []write{status("{phase: Protect, startedAt: '" + started + "'}")},
		good:    statusEdit(set("status.phase", "Flip")),
		bad:     statusEdit(set("status.startedAt", startedLater)),
		message: "status.startedAt cannot change or be cleared once set",
	},
	{
		name: "flip startedAt cannot be cleared", base: flipBase,
		before:  []write{status("{phase: Protect, startedAt: '" + started + "'}")},
		good:    statusEdit(set("status.retries", int64(1))),
		bad:     statusEdit(del("status.startedAt")),
		message: "status.startedAt cannot change or be cleared once set",
	},
	{
		name: "flip startedAt cannot be dropped with the status", base: flipBase,
		before:  []write{status("{phase: AwaitingApproval}"), status("{phase: Protect, startedAt: '" + started + "'}")},
		good:    statusEdit(set("status.phase", "Halted")),
		bad:     statusEdit(del("status")),
		message: "status.startedAt cannot change or be cleared once set",
	},
	{
		name: "replication startedAt cannot change", base: replicationBase,
		before:  []write{status("{phase: Place, startedAt: '" + started + "'}")},
		good:    statusEdit(set("status.phase", "Sync")),
		bad:     statusEdit(set("status.startedAt", startedLater)),
		message: "status.startedAt cannot change or be cleared once set",
	},
	{
		name: "migration startedAt cannot change", base: migrationBase,
		before:  []write{status("{phase: Snapshot, startedAt: '" + started + "'}")},
		good:    statusEdit(set("status.phase", "Copy")),
		bad:     statusEdit(set("status.startedAt", startedLater)),
		message: "status.startedAt cannot change or be cleared once set",
	},
	{
		name: "migration startedAt cannot be cleared", base: migrationBase,
		before:  []write{status("{phase: Snapshot, startedAt: '" + started + "'}")},
		good:    statusEdit(set("status.phase", "Copy")),
		bad:     statusEdit(del("status.startedAt")),
		message: "status.startedAt cannot change or be cleared once set",
	},
	{
		name: "operation retries are not negative", base: replicationBase,
		good:    statusEdit(set("status.retries", int64(0))),
		bad:     statusEdit(set("status.retries", int64(-1))),
		message: "should be greater than or equal to 0",
	},
	{
		name: "step attempts are not negative", base: flipBase,
		good:    status("{progress: [{target: node-a, phase: Flipping, attempt: 1}]}"),
		bad:     status("{progress: [{target: node-a, phase: Flipping, attempt: -1}]}"),
		message: "should be greater than or equal to 0",
	},

	// Operations: cross-field rules of the spec.
	{
		name: "flip changes the mode", base: flipBase, create: true,
		good:    objectEdit(set("spec.toMode", "balance-alb")),
		bad:     objectEdit(set("spec.toMode", "active-backup")),
		message: "toMode must differ from fromMode",
	},
	{
		name: "flip maxUnavailable within the nodes", base: flipBase, create: true,
		good:    objectEdit(set("spec.maxUnavailable", int64(3))),
		bad:     objectEdit(set("spec.maxUnavailable", int64(4))),
		message: "maxUnavailable must not exceed the number of nodes listed",
	},
	{
		name: "flip maxUnavailable may be left out", base: flipBase, create: true,
		good:    objectEdit(del("spec.maxUnavailable")),
		bad:     objectEdit(set("spec.nodes", []any{"node-a"}), set("spec.maxUnavailable", int64(2))),
		message: "maxUnavailable must not exceed the number of nodes listed",
	},
	{
		name: "replication raises the place count", base: replicationBase, create: true,
		good:    objectEdit(set("spec.fromPlaceCount", int64(1)), set("spec.toPlaceCount", int64(2))),
		bad:     objectEdit(set("spec.toPlaceCount", int64(2))),
		message: "toPlaceCount must be more than fromPlaceCount",
	},
	{
		name: "replication never lowers the place count", base: replicationBase, create: true,
		good:    objectEdit(set("spec.toPlaceCount", int64(16))),
		bad:     objectEdit(set("spec.toPlaceCount", int64(1))),
		message: "toPlaceCount must be more than fromPlaceCount",
	},

	// EdgeProfile.
	{
		name: "profile minReadyNodes within the nodes", base: profileBase, create: true,
		good:    objectEdit(set("spec.health.minReadyNodes", int64(3))),
		bad:     objectEdit(set("spec.health.minReadyNodes", int64(4))),
		message: "health.minReadyNodes must not exceed the number of nodes",
	},
	{
		name: "profile placeCount within the nodes", base: profileBase, create: true,
		good:    objectEdit(set("spec.resourceGroups.0.placeCount", int64(3))),
		bad:     objectEdit(set("spec.resourceGroups.0.placeCount", int64(4))),
		message: "a resource group's placeCount must not exceed the number of nodes",
	},
	{
		name: "profile window days once each", base: profileBase, create: true,
		good:    objectEdit(set("spec.maintenanceWindows.0.days", []any{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"})),
		bad:     objectEdit(set("spec.maintenanceWindows.0.days", []any{"Tue", "Tue"})),
		message: "Duplicate value",
	},
	{
		name: "profile window in a named time zone", base: profileBase, create: true,
		good:    objectEdit(set("spec.maintenanceWindows.0.timeZone", "Europe/Berlin")),
		bad:     objectEdit(set("spec.maintenanceWindows.0.timeZone", "Local")),
		message: "must be an IANA time zone name such as Europe/Berlin or UTC, not Local",
	},

	// FleetSource.
	{
		name: "fleet source site is a DNS label", base: fleetSourceBase, create: true,
		good:    objectEdit(set("spec.site", strings.Repeat("s", 63))),
		bad:     objectEdit(set("spec.site", strings.Repeat("s", 64))),
		message: "spec.site: Too long: may not be more than 63 bytes",
	},
	{
		name: "fleet source trust root names a Secret", base: fleetSourceBase, create: true,
		good:    objectEdit(set("spec.trustRoot.name", "fleet.trust-root")),
		bad:     objectEdit(set("spec.trustRoot.name", "Trust_Root")),
		message: "spec.trustRoot.name in body should match",
	},
	{
		name: "fleet source trust root key is a Secret key", base: fleetSourceBase, create: true,
		good:    objectEdit(set("spec.trustRoot.key", "trust-policy_v2.yaml")),
		bad:     objectEdit(set("spec.trustRoot.key", "trust/policy.yaml")),
		message: "spec.trustRoot.key in body should match",
	},

	// NodewrightCluster.
	{
		name: "audit seq only grows", base: clusterBase,
		good:    objectEdit(set("audit.seq", int64(6)), set("audit.hash", "def")),
		bad:     objectEdit(set("audit.seq", int64(4))),
		message: "audit.seq cannot go back: the audit chain only grows",
	},
	{
		name: "audit head cannot be dropped", base: clusterBase,
		good:    objectEdit(set("audit.seq", int64(5))),
		bad:     objectEdit(del("audit")),
		message: "audit.seq cannot go back: the audit chain only grows",
	},
}

// TestCELRules runs every rule against a real API server with the CRDs
// of config/crd/bases installed.
func TestCELRules(t *testing.T) {
	env := envtest.Start(t, "config/crd/bases")
	c := env.Client
	for i, tc := range celCases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			name := fmt.Sprintf("cel-%d", i)
			require.NoError(t, runCase(t, ctx, c, tc, name+"-good", tc.good), "the good edit is accepted")
			err := runCase(t, ctx, c, tc, name+"-bad", tc.bad)
			require.Error(t, err, "the bad edit is refused")
			t.Logf("refused: %v", err)
			assert.True(t, apierrors.IsInvalid(err), "refused as invalid: %v", err)
			assert.Contains(t, err.Error(), tc.message)
		})
	}
}

// runCase builds the case's object under name and sends w: as part of the
// create (a create case) or as a write after the create and the before
// writes, which must be accepted. It returns the API server's answer to w.
func runCase(t *testing.T, ctx context.Context, c client.Client, tc celCase, name string, w write) error {
	t.Helper()
	obj := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(tc.base), &obj.Object), "base")
	obj.SetName(name)
	if tc.create {
		w.edit(obj.Object)
		return c.Create(ctx, obj)
	}
	require.NoError(t, c.Create(ctx, obj), "create %s", name)
	for j, b := range tc.before {
		require.NoError(t, send(ctx, c, obj, b), "before write %d of %s", j, name)
	}
	return send(ctx, c, obj, w)
}

// send applies w to obj and writes it, keeping obj as the server returned
// it when the write succeeds.
func send(ctx context.Context, c client.Client, obj *unstructured.Unstructured, w write) error {
	next := obj.DeepCopy()
	w.edit(next.Object)
	var err error
	if w.status {
		err = c.Status().Update(ctx, next)
	} else {
		err = c.Update(ctx, next)
	}
	if err == nil {
		*obj = *next
	}
	return err
}
