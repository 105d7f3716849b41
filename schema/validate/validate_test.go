package validate

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/schema/manifest"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

const profileYAML = `apiVersion: nodewright.io/v1alpha1
kind: EdgeProfile
metadata:
  name: edge-042
spec:
  site: edge-042
  clusterName: edge-042
  nodes:
    - name: node-a
      bonds:
        - {name: bond0, mode: active-backup, slaves: [eth0, eth1]}
      storagePools: [nvme]
    - name: node-b
      bonds:
        - {name: bond0, mode: balance-rr, slaves: [eth0, eth1]}
      storagePools: [nvme]
    - name: node-c
      bonds:
        - {name: bond1, mode: active-backup, slaves: [eth2]}
  resourceGroups:
    - {name: vm-disks, storagePool: nvme, placeCount: 2}
  storageClasses:
    - {name: linstor-r2, resourceGroup: vm-disks}
  maintenanceWindows:
    - {days: [Tue], start: "02:00", duration: 3h, timeZone: Europe/Berlin}
`

func decode(t *testing.T, file, doc string) *manifest.Document {
	t.Helper()
	d, problems := manifest.Decode(file, []byte(doc), append([]string{v1.KindEdgeProfile}, v1.OperationKinds...)...)
	require.Empty(t, problems)
	require.NotNil(t, d)
	v1.Default(d.Object)
	return d
}

func profile(t *testing.T) *v1.EdgeProfile {
	return decode(t, "profile.yaml", profileYAML).Object.(*v1.EdgeProfile)
}

func errorsOf(ps manifest.Problems) []string {
	var out []string
	for _, p := range ps {
		if p.Severity == manifest.Error {
			out = append(out, p.String())
		}
	}
	return out
}

func TestProfileRules(t *testing.T) {
	cases := []struct {
		name, old, new, want string
	}{
		{"site matches folder", "site: edge-042", "site: edge-041", `p.yaml:6:3: spec.site: "edge-041" does not match its folder sites/edge-042`},
		{"site name", "site: edge-042", "site: Edge_42", `p.yaml:6:3: spec.site: "Edge_42" is not a site name (a DNS label)`},
		{"cluster name required", "  clusterName: edge-042\n", "", "p.yaml:5:1: spec.clusterName: is required"},
		{"duplicate node", "name: node-b", "name: node-a", `p.yaml:13:7: spec.nodes[1].name: node "node-a" is already defined at spec.nodes[0]`},
		{"bond mode", "mode: balance-rr", "mode: lacp", `p.yaml:15:25: spec.nodes[1].bonds[0].mode: "lacp" is not a bond mode; one of balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb`},
		{"no slaves", "slaves: [eth2]", "slaves: []", "p.yaml:19:46: spec.nodes[2].bonds[0].slaves: a bond needs at least one slave interface"},
		{"interface name too long", "name: bond1", "name: bond-with-a-long-name", `p.yaml:19:12: spec.nodes[2].bonds[0].name: "bond-with-a-long-name" is not an interface name (at most 15 letters, digits, '_', '.', '-')`},
		{"place count exceeds pool", "placeCount: 2", "placeCount: 3", `p.yaml:21:43: spec.resourceGroups[0].placeCount: 3 exceeds the 2 nodes with storage pool "nvme" (node-a, node-b)`},
		{"unknown pool", "storagePool: nvme", "storagePool: ssd", `p.yaml:21:24: spec.resourceGroups[0].storagePool: no node provides storage pool "ssd"`},
		{"storage class group", "resourceGroup: vm-disks}", "resourceGroup: vm-diskz}", `p.yaml:23:26: spec.storageClasses[0].resourceGroup: resource group "vm-diskz" is not defined under spec.resourceGroups`},
		{"window day", "days: [Tue]", "days: [Tuesday]", `p.yaml:25:15: spec.maintenanceWindows[0].days[0]: "Tuesday" is not a day; one of Mon, Tue, Wed, Thu, Fri, Sat, Sun`},
		{"window start", `start: "02:00"`, `start: "2am"`, `p.yaml:25:21: spec.maintenanceWindows[0].start: "2am" is not a time of day as HH:MM (24-hour clock)`},
		{"window duration", "duration: 3h", "duration: 5m", "p.yaml:25:37: spec.maintenanceWindows[0].duration: 5m is out of bounds; must be between 15m and 24h"},
		{"time zone", "timeZone: Europe/Berlin", "timeZone: Mars/Olympus", `p.yaml:25:51: spec.maintenanceWindows[0].timeZone: "Mars/Olympus" is not an IANA time zone such as Europe/Berlin or UTC`},
		{"pool name", "      storagePools: [nvme]\n    - name: node-b", "      storagePools: [nvme, \"a/../b\"]\n    - name: node-b", `p.yaml:12:28: spec.nodes[0].storagePools[1]: "a/../b" is not a LINSTOR storage pool name (letters, digits, _ and -, at most 48)`},
		{"group name", "resourceGroups:\n    - {name: vm-disks,", "resourceGroups:\n    - {name: vm-disks, storagePool: nvme, placeCount: 2}\n    - {name: \"x?y\",", `p.yaml:22:8: spec.resourceGroups[1].name: "x?y" is not a LINSTOR resource group name (letters, digits, _ and -, at most 48)`},
		{"namespace", "  name: edge-042\n", "  name: edge-042\n  namespace: x\n", "p.yaml:5:3: metadata.namespace: is chosen by the cluster; remove it from the manifest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(profileYAML, c.old, c.new, 1)
			require.NotEqual(t, profileYAML, doc, "the case must change the document")
			got := errorsOf(Profile(decode(t, "p.yaml", doc), "edge-042"))
			assert.Equal(t, []string{c.want}, got)
		})
	}
	assert.Empty(t, errorsOf(Profile(decode(t, "p.yaml", profileYAML), "edge-042")), "the base profile is valid")
}

const flipYAML = `apiVersion: nodewright.io/v1alpha1
kind: BondModeFlipPlan
metadata:
  name: flip
spec:
  bond: bond0
  fromMode: active-backup
  toMode: 802.3ad
  nodes: [node-a]
  revertAfter: 2m
  probes: {gateway: 192.0.2.1, peers: [node-b], timeout: 10s}
`

const replicationYAML = `apiVersion: nodewright.io/v1alpha1
kind: ReplicationUpgrade
metadata:
  name: r
spec:
  resourceGroup: vm-disks
  fromPlaceCount: 1
  toPlaceCount: 2
  syncTimeout: 1h
`

const migrationYAML = `apiVersion: nodewright.io/v1alpha1
kind: VMVolumeMigration
metadata:
  name: m
spec:
  vm: {namespace: apps, name: db-0}
  targetStorageClass: linstor-r2
  mode: Hot
`

func TestOperationRules(t *testing.T) {
	cases := []struct {
		name, doc, old, new, want string
	}{
		{"to equals from", flipYAML, "toMode: 802.3ad", "toMode: active-backup", `o.yaml:8:3: spec.toMode: equals fromMode "active-backup"; there is nothing to flip`},
		{"bad to mode", flipYAML, "toMode: 802.3ad", "toMode: 8023ad", `o.yaml:8:3: spec.toMode: "8023ad" is not a bond mode; one of balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb`},
		{"unknown node", flipYAML, "nodes: [node-a]", "nodes: [node-z]", `o.yaml:9:11: spec.nodes[0]: "node-z" is not a node of site edge-042; one of node-a, node-b, node-c`},
		{"bond missing on node", flipYAML, "nodes: [node-a]", "nodes: [node-c]", `o.yaml:9:11: spec.nodes[0]: node node-c has no bond "bond0" in the profile (it has: bond1)`},
		{"from mode mismatch", flipYAML, "nodes: [node-a]", "nodes: [node-a, node-b]", `o.yaml:7:3: spec.fromMode: "active-backup" does not match node node-b, whose bond0 runs balance-rr in the profile`},
		{"node twice", flipYAML, "nodes: [node-a]", "nodes: [node-a, node-a]", `o.yaml:9:19: spec.nodes[1]: node "node-a" is listed twice`},
		{"revert bounds", flipYAML, "revertAfter: 2m", "revertAfter: 2h", "o.yaml:10:3: spec.revertAfter: 2h is out of bounds; must be between 10s and 30m"},
		{"probe timeout", flipYAML, "timeout: 10s", "timeout: 10m", "o.yaml:11:49: spec.probes.timeout: 10m is out of bounds; must be between 1s and 5m"},
		{"gateway", flipYAML, "gateway: 192.0.2.1", "gateway: router", `o.yaml:11:12: spec.probes.gateway: "router" is not an IP address`},
		{"peer", flipYAML, "peers: [node-b]", "peers: [node-q]", `o.yaml:11:40: spec.probes.peers[0]: "node-q" is not a node of site edge-042; one of node-a, node-b, node-c`},
		{"max unavailable", flipYAML, "nodes: [node-a]", "nodes: [node-a]\n  maxUnavailable: 2", "o.yaml:10:3: spec.maxUnavailable: 2 is out of bounds; must be between 1 and the 1 nodes listed"},
		{"vm protection", flipYAML, "nodes: [node-a]", "nodes: [node-a]\n  vmProtection: Pray", `o.yaml:10:3: spec.vmProtection: "Pray" is not a VM protection; one of LiveMigrate, Shutdown, None`},
		{"status in a manifest", flipYAML, "timeout: 10s}\n", "timeout: 10s}\nstatus: {phase: Succeeded}\n", "o.yaml:12:1: status: is reported by the cluster; a manifest must not set it"},
		{"unknown group", replicationYAML, "resourceGroup: vm-disks", "resourceGroup: vm", `o.yaml:6:3: spec.resourceGroup: "vm" is not a resource group of site edge-042 (it has: vm-disks)`},
		{"valid upgrade", replicationYAML, "", "", ""},
		{"to not above from", replicationYAML, "toPlaceCount: 2", "toPlaceCount: 1", "o.yaml:8:3: spec.toPlaceCount: 1 is not more than fromPlaceCount 1; lowering replication is not an upgrade"},
		{"to exceeds pool", replicationYAML, "toPlaceCount: 2", "toPlaceCount: 3", `o.yaml:8:3: spec.toPlaceCount: 3 exceeds the 2 nodes with storage pool "nvme" (node-a, node-b)`},
		{"place count bounds", replicationYAML, "toPlaceCount: 2", "toPlaceCount: 17", "o.yaml:8:3: spec.toPlaceCount: 17 is out of bounds; must be between 1 and 16"},
		{"sync timeout", replicationYAML, "syncTimeout: 1h", "syncTimeout: 30s", "o.yaml:9:3: spec.syncTimeout: 30s is out of bounds; must be between 1m and 48h"},
		{"batch size", replicationYAML, "syncTimeout: 1h", "syncTimeout: 1h\n  batchSize: 5000", "o.yaml:10:3: spec.batchSize: 5000 is out of bounds; must be between 1 and 1000"},
		{"storage class undeclared", migrationYAML, "targetStorageClass: linstor-r2", "targetStorageClass: linstor-r3", `o.yaml:7:3: spec.targetStorageClass: "linstor-r3" is not declared in the profile of site edge-042 (it declares: linstor-r2)`},
		{"migration mode", migrationYAML, "mode: Hot", "mode: Warm", `o.yaml:8:3: spec.mode: "Warm" is not a migration mode; one of Auto, Hot, Cold`},
		{"vm name", migrationYAML, "name: db-0}", "name: DB_0}", `o.yaml:6:25: spec.vm.name: "DB_0" is not a VirtualMachine name`},
	}
	p := profile(t)
	p.Spec.ResourceGroups[0].PlaceCount = 1
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(c.doc, c.old, c.new, 1)
			got := errorsOf(Operation(decode(t, "o.yaml", doc), p))
			if c.want == "" {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, []string{c.want}, got)
		})
	}
}

func TestFromPlaceCountMustMatchProfile(t *testing.T) {
	got := errorsOf(Operation(decode(t, "o.yaml", replicationYAML), profile(t)))
	assert.Equal(t, []string{"o.yaml:7:3: spec.fromPlaceCount: 1 does not match resource group vm-disks, whose place count is 2 in the profile"}, got)
}

func TestDisruptiveFlipIsANotice(t *testing.T) {
	ps := Operation(decode(t, "o.yaml", flipYAML), profile(t))
	require.Empty(t, errorsOf(ps))
	require.Len(t, ps, 2)
	assert.Equal(t, manifest.Notice, ps[0].Severity)
	assert.Contains(t, ps[0].Message, "disruptive: the kernel changes a bond's mode only with its slaves released")
	assert.Contains(t, ps[1].Message, "802.3ad needs LACP configured on the switch ports of eth0, eth1")
}

func TestDuplicateNames(t *testing.T) {
	for _, c := range []struct{ old, new, want string }{
		{"    - {name: vm-disks, storagePool: nvme, placeCount: 2}\n", "    - {name: vm-disks, storagePool: nvme, placeCount: 2}\n    - {name: vm-disks, storagePool: nvme, placeCount: 1}\n",
			`spec.resourceGroups[1].name: resource group "vm-disks" is already defined at spec.resourceGroups[0]`},
		{"    - {name: linstor-r2, resourceGroup: vm-disks}\n", "    - {name: linstor-r2, resourceGroup: vm-disks}\n    - {name: linstor-r2, resourceGroup: vm-disks}\n",
			`spec.storageClasses[1].name: storage class "linstor-r2" is already defined at spec.storageClasses[0]`},
		{"        - {name: bond1, mode: active-backup, slaves: [eth2]}\n", "        - {name: bond1, mode: active-backup, slaves: [eth2]}\n        - {name: bond1, mode: active-backup, slaves: [eth3]}\n",
			`spec.nodes[2].bonds[1].name: bond "bond1" is already defined at spec.nodes[2].bonds[0]`},
	} {
		doc := strings.Replace(profileYAML, c.old, c.new, 1)
		require.NotEqual(t, profileYAML, doc)
		got := errorsOf(Profile(decode(t, "p.yaml", doc), "edge-042"))
		require.Len(t, got, 1, "%v", got)
		assert.Contains(t, got[0], c.want)
	}
}
