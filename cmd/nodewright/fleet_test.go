package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/fleet/view"
	"github.com/nodewright/nodewright/fleet/view/viewtest"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/harness"
)

// cli runs the command line in process, as main does.
func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return stdout.String(), stderr.String(), code
}

// cliFleet has three clusters: alpha (south) healthy with a bond flip in
// flight, bravo (north) silent for three hours, charlie (north) with a
// halted migration and a node down.
func cliFleet(t *testing.T) *viewtest.Fleet {
	t.Helper()
	f := viewtest.New(t,
		viewtest.Spec{Name: "alpha", Site: "south", Key: harness.NewSSHKey(t, "alpha")},
		viewtest.Spec{Name: "bravo", Site: "north", Key: harness.NewSSHKey(t, "bravo")},
		viewtest.Spec{Name: "charlie", Site: "north", Key: harness.NewSSHKey(t, "charlie")},
	)
	f.Report("alpha", f.Status("alpha", 5*time.Minute, 3, 3,
		v1.OperationSummary{Kind: "BondModeFlipPlan", Name: "bond0-to-lacp", Phase: "Flip", Progress: "1/3 nodes"}),
		f.Transition("alpha", "BondModeFlipPlan", "bond0-to-lacp", "Pending", "AwaitingApproval", "ApprovalRequired", 40*time.Minute),
		f.Transition("alpha", "BondModeFlipPlan", "bond0-to-lacp", "AwaitingApproval", "Preflight", "Approved", 30*time.Minute),
		f.Transition("alpha", "BondModeFlipPlan", "bond0-to-lacp", "Preflight", "Flip", "PreflightPassed", 20*time.Minute))
	f.Report("bravo", f.Status("bravo", 3*time.Hour+10*time.Minute, 2, 2),
		f.Transition("bravo", "ReplicationUpgrade", "rg-2", "Pending", "AwaitingApproval", "ApprovalRequired", 4*time.Hour))
	f.Report("charlie", f.Status("charlie", 2*time.Minute, 2, 3,
		v1.OperationSummary{Kind: "VMVolumeMigration", Name: "db", Phase: "Halted", Progress: "Copying failed"}),
		f.Transition("charlie", "VMVolumeMigration", "db", "Copying", "Halted", "CopyFailed", 10*time.Minute))
	return f
}

// TestFleetAndAuditCommands builds one fleet and runs every scenario on a
// fork of it.
func TestFleetAndAuditCommands(t *testing.T) {
	base := cliFleet(t)

	t.Run("fleet status table", func(t *testing.T) {
		f := base.Fork(t)
		stdout, stderr, code := cli(t, "fleet", "status", "--repo", f.Dir)
		require.Equal(t, 0, code, stderr)
		assert.Empty(t, stderr)
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		require.Len(t, lines, 5, stdout)
		assert.Regexp(t, `^CLUSTER\s+SITE\s+APPLIED\s+POLICY\s+OPERATIONS\s+HEALTH\s+LAST REPORT$`, lines[0])
		// Sorted by site, then name.
		short := f.FleetCommit[:12]
		assert.Regexp(t, `^bravo\s+north\s+`+short+` \(2d\)\s+v1\s+-\s+Unknown \(last report 3h ago\)\s+3h ago$`, lines[1])
		assert.Regexp(t, `^charlie\s+north\s+`+short+` \(2d\)\s+v1\s+VMVolumeMigration/db Halted \(Copying failed\) FAILED\s+Degraded \(2/3 nodes ready, 1 failed operation\)\s+2m ago$`, lines[2])
		assert.Regexp(t, `^alpha\s+south\s+`+short+` \(2d\)\s+v1\s+BondModeFlipPlan/bond0-to-lacp Flip \(1/3 nodes\)\s+Healthy \(3/3 nodes ready\)\s+5m ago$`, lines[3])
		assert.Equal(t, "3 clusters: 1 Healthy, 1 Degraded, 1 Unknown (nodewright/status at "+f.StatusTree.Head()[:12]+")", lines[4])

		// A longer threshold: bravo is known again.
		stdout, _, code = cli(t, "fleet", "status", "--repo", f.Dir, "--stale-after", "4h")
		require.Equal(t, 0, code)
		assert.Regexp(t, `(?m)^bravo\s+north\s+.*Healthy \(2/2 nodes ready\)\s+3h ago$`, stdout)
	})

	t.Run("fleet status json", func(t *testing.T) {
		f := base.Fork(t)
		stdout, stderr, code := cli(t, "fleet", "status", "--repo", f.Dir, "-o", "json")
		require.Equal(t, 0, code, stderr)
		var got struct {
			Branch      string         `json:"branch"`
			Commit      string         `json:"commit"`
			FleetCommit string         `json:"fleetCommit"`
			StaleAfter  string         `json:"staleAfter"`
			Clusters    []view.Cluster `json:"clusters"`
		}
		require.NoError(t, json.Unmarshal([]byte(stdout), &got), stdout)
		assert.Equal(t, "nodewright/status", got.Branch)
		assert.Equal(t, f.StatusTree.Head(), got.Commit)
		assert.Equal(t, f.FleetCommit, got.FleetCommit)
		assert.Equal(t, "1h0m0s", got.StaleAfter)
		require.Len(t, got.Clusters, 3)
		assert.Equal(t, []string{"bravo", "charlie", "alpha"}, []string{got.Clusters[0].Name, got.Clusters[1].Name, got.Clusters[2].Name})
		assert.Equal(t, view.Unknown, got.Clusters[0].Health)
		assert.Equal(t, "Unknown (last report 3h ago)", got.Clusters[0].Summary)
		assert.Equal(t, view.Degraded, got.Clusters[1].Health)
		assert.Equal(t, view.Failed, got.Clusters[1].Operations[0].State)
		assert.Equal(t, "Flip", got.Clusters[2].Operations[0].Phase)
		assert.Equal(t, f.FleetCommit, got.Clusters[2].AppliedCommit)
		assert.True(t, got.Clusters[2].AppliedIsFleetTip)
		require.NotNil(t, got.Clusters[2].LastReport)
	})

	t.Run("fleet status refuses an unreadable report", func(t *testing.T) {
		f := base.Fork(t)
		f.StatusTree.Write("clusters/alpha/status.yaml", "cluster: alpha\nsite: south\ntime: 2025-03-01T12:00:00Z\nhealth: great\n")
		f.Commit(f.Clusters["alpha"].Key, "alpha: status report", nil)
		stdout, stderr, code := cli(t, "fleet", "status", "--repo", f.Dir)
		assert.Equal(t, 1, code)
		assert.Equal(t, "REJECTED StatusInvalid: cluster alpha: clusters/alpha/status.yaml:4:1: health: unknown field\n", stderr)
		assert.Regexp(t, `(?m)^alpha\s+-\s+-\s+-\s+-\s+Invalid: clusters/alpha/status.yaml:4:1: health: unknown field\s+never$`, stdout)
	})

	t.Run("audit verify intact", func(t *testing.T) {
		f := base.Fork(t)
		stdout, stderr, code := cli(t, "audit", "verify", "--repo", f.Dir, "--trust-root", f.PolicyFile())
		require.Equal(t, 0, code, stderr)
		assert.Empty(t, stderr)
		assert.Regexp(t, `(?m)^INTACT\s+alpha\s+3 records, 1 commit, head [0-9a-f]{12}$`, stdout)
		assert.Regexp(t, `(?m)^INTACT\s+bravo\s+1 record, 1 commit, head `, stdout)
		assert.Contains(t, stdout, "audit trail intact: 3 clusters (nodewright/status at "+f.StatusTree.Head()[:12]+", 3 commits)\n")

		stdout, _, code = cli(t, "audit", "verify", "--repo", f.Dir, "--cluster", "bravo", "-o", "json")
		require.Equal(t, 0, code)
		var rep view.Report
		require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
		require.Len(t, rep.Clusters, 1)
		assert.Equal(t, "bravo", rep.Clusters[0].Name)
		assert.Empty(t, rep.Problems)
	})

	t.Run("audit verify names the first broken link", func(t *testing.T) {
		f := base.Fork(t)
		lines := f.AuditLines("alpha")
		lines[1] = strings.Replace(lines[1], `"reason":"Approved"`, `"reason":"Forced"`, 1)
		f.SetAuditLines("alpha", lines)
		tamper := f.Commit(f.Clusters["alpha"].Key, "alpha: status report", nil)
		f.StatusTree.Write("clusters/bravo/status.yaml", "# not bravo's\n")
		wrongKey := f.Commit(f.Clusters["charlie"].Key, "charlie: status report", nil)

		stdout, stderr, code := cli(t, "audit", "verify", "--repo", f.Dir)
		assert.Equal(t, 1, code)
		rejected := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		require.Len(t, rejected, 3, stderr)
		assert.Equal(t, `REJECTED AuditBroken: cluster alpha: commit `+tamper[:12]+` ("alpha: status report") rewrites clusters/alpha/audit.jsonl: line 2 (seq 2) was changed; an audit log may only grow`, rejected[0])
		assert.Regexp(t, `^REJECTED StatusSignature: cluster bravo: commit `+wrongKey[:12]+` \("charlie: status report"\) changes clusters/bravo/ but is signed by cluster charlie's key SHA256:\S+, not by a key of cluster bravo$`, rejected[1])
		assert.Regexp(t, `^REJECTED StatusScope: cluster charlie: commit `+wrongKey[:12]+` .* but changes clusters/bravo/; a cluster's commits may change only its own directory clusters/charlie/$`, rejected[2])
		assert.Regexp(t, `(?m)^BROKEN\s+alpha\s+.*: AuditBroken$`, stdout)
		assert.Contains(t, stdout, "audit trail broken for 3 of 3 clusters")

		_, stderr, code = cli(t, "audit", "verify", "--repo", f.Dir, "--cluster", "alpha")
		assert.Equal(t, 1, code)
		assert.Equal(t, 1, strings.Count(stderr, "REJECTED"), stderr)
	})

	t.Run("audit log", func(t *testing.T) {
		f := base.Fork(t)
		stdout, stderr, code := cli(t, "audit", "log", "--repo", f.Dir)
		require.Equal(t, 0, code, stderr)
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		require.Len(t, lines, 6, stdout)
		assert.Regexp(t, `^TIME\s+CLUSTER\s+SITE\s+OPERATION\s+TRANSITION\s+REASON\s+ACTOR\s+SEQ\s+MESSAGE$`, lines[0])
		assert.Regexp(t, `^\S+Z\s+charlie\s+north\s+VMVolumeMigration/db\s+Copying -> Halted\s+CopyFailed\s+nodewright-reconciler\s+1\s+VMVolumeMigration db: Copying -> Halted$`, lines[1])
		assert.Regexp(t, `^\S+\s+alpha\s+south\s+BondModeFlipPlan/bond0-to-lacp\s+Preflight -> Flip\s+PreflightPassed\s+\S+\s+3\s`, lines[2])
		assert.Regexp(t, `^\S+\s+bravo\s+`, lines[5], "oldest last")

		cases := []struct {
			args []string
			want []string // cluster/seq in order
		}{
			{[]string{"--reverse"}, []string{"bravo/1", "alpha/1", "alpha/2", "alpha/3", "charlie/1"}},
			{[]string{"--cluster", "alpha", "-n", "2"}, []string{"alpha/3", "alpha/2"}},
			{[]string{"--site", "north"}, []string{"charlie/1", "bravo/1"}},
			{[]string{"--operation", "BondModeFlipPlan/bond0-to-lacp", "--reverse"}, []string{"alpha/1", "alpha/2", "alpha/3"}},
			{[]string{"--operation", "ReplicationUpgrade"}, []string{"bravo/1"}},
			{[]string{"--operation", "db"}, []string{"charlie/1"}},
			{[]string{"--since", "35m"}, []string{"charlie/1", "alpha/3", "alpha/2"}},
			{[]string{"--until", "35m"}, []string{"alpha/1", "bravo/1"}},
			{[]string{"--since", f.Now.Add(-45 * time.Minute).Format(time.RFC3339), "--until", f.Now.Add(-25 * time.Minute).Format(time.RFC3339)}, []string{"alpha/2", "alpha/1"}},
			{[]string{"--since", f.Now.Add(24 * time.Hour).Format(time.DateOnly)}, nil},
		}
		for _, c := range cases {
			stdout, stderr, code := cli(t, append([]string{"audit", "log", "--repo", f.Dir, "-o", "json"}, c.args...)...)
			require.Equal(t, 0, code, stderr)
			var recs []v1.AuditRecord
			require.NoError(t, json.Unmarshal([]byte(stdout), &recs))
			var got []string
			for _, r := range recs {
				got = append(got, fmt.Sprintf("%s/%d", r.Cluster, r.Seq))
				assert.Len(t, r.Hash, 64)
			}
			assert.Equal(t, c.want, got, "%v", c.args)
		}
		stdout, _, code = cli(t, "audit", "log", "--repo", f.Dir, "--cluster", "zulu")
		require.Equal(t, 0, code)
		assert.Equal(t, "no audit records match\n", stdout)
	})

	t.Run("audit log refuses an unreadable file", func(t *testing.T) {
		f := base.Fork(t)
		f.SetAuditLines("bravo", append(f.AuditLines("bravo"), "{oops"))
		f.Commit(f.Clusters["bravo"].Key, "bravo: status report", nil)
		stdout, stderr, code := cli(t, "audit", "log", "--repo", f.Dir)
		assert.Equal(t, 1, code)
		assert.Regexp(t, `^REJECTED AuditBroken: cluster bravo: clusters/bravo/audit.jsonl:2: invalid JSON`, stderr)
		assert.Equal(t, 5, strings.Count(stdout, "\n"), "alpha's and charlie's records and the header")
	})

	t.Run("fleet dashboard", func(t *testing.T) {
		f := base.Fork(t)
		out := filepath.Join(t.TempDir(), "site")
		stdout, stderr, code := cli(t, "fleet", "dashboard", "--repo", f.Dir, "--out", out)
		require.Equal(t, 0, code, stderr)
		assert.Equal(t, filepath.Join(out, "index.html")+"\n", stdout)
		assert.Equal(t, "wrote the dashboard of 3 clusters and 5 audit records\n", stderr)
		page, err := os.ReadFile(filepath.Join(out, "index.html"))
		require.NoError(t, err)
		for _, want := range []string{`data-cluster="alpha"`, `data-cluster="bravo"`, "Unknown (last report 3h ago)", `<span class="badge failed">FAILED</span> VMVolumeMigration/db`, "Preflight → Flip"} {
			assert.Contains(t, string(page), want)
		}
	})

	t.Run("usage errors", func(t *testing.T) {
		f := base.Fork(t)
		cases := []struct {
			args []string
			want string
		}{
			{[]string{"fleet"}, "name a subcommand: status or dashboard"},
			{[]string{"audit"}, "name a subcommand: verify or log"},
			{[]string{"fleet", "status"}, "--repo is required"},
			{[]string{"fleet", "status", "--repo", f.Dir, "-o", "yaml"}, `--output "yaml" is not one of table, json`},
			{[]string{"fleet", "status", "--repo", f.Dir, "--stale-after", "0s"}, "--stale-after must be positive"},
			{[]string{"fleet", "status", "--repo", f.Dir, "--stale-after", "soon"}, `invalid argument "soon" for "--stale-after"`},
			{[]string{"fleet", "status", "--repo", filepath.Join(t.TempDir(), "nothing")}, "local repository: stat"},
			{[]string{"fleet", "status", "--repo", f.Dir, "--branch", "nodewright/other"}, "has no branch nodewright/other: no status branch"},
			{[]string{"fleet", "dashboard", "--repo", f.Dir}, "--out is required"},
			{[]string{"audit", "verify", "--repo", f.Dir, "--fleet-branch", "other"}, "has no branch other"},
			{[]string{"audit", "verify", "--repo", f.Dir, "--cluster", "zulu"}, `cluster "zulu" is not listed in main:.nodewright/clusters.yaml`},
			{[]string{"audit", "verify", "--repo", f.Dir, "--trust-root", "/nonexistent/root.yaml"}, "trust root: open /nonexistent/root.yaml"},
			{[]string{"audit", "log", "--repo", f.Dir, "--since", "last tuesday"}, `--since "last tuesday" is not an RFC 3339 time`},
			{[]string{"audit", "log", "--repo", f.Dir, "--since", "1h", "--until", "2h"}, "--until 2h is before --since 1h"},
			{[]string{"audit", "log", "--repo", f.Dir, "-n", "-1"}, "--max-count must not be negative"},
			{[]string{"audit", "log", "--repo", f.Dir, "--ssh-known-hosts", "/x"}, "--ssh-known-hosts goes with --ssh-key"},
		}
		for _, c := range cases {
			_, stderr, code := cli(t, c.args...)
			assert.Equal(t, 2, code, "%v: %s", c.args, stderr)
			assert.Contains(t, stderr, c.want, "%v", c.args)
			assert.True(t, strings.HasPrefix(stderr, "error: "), stderr)
		}
	})

	t.Run("every subcommand has help", func(t *testing.T) {
		for _, args := range [][]string{{"fleet", "status"}, {"fleet", "dashboard"}, {"audit", "verify"}, {"audit", "log"}} {
			stdout, _, code := cli(t, append(args, "--help")...)
			assert.Equal(t, 0, code)
			assert.Contains(t, stdout, "Usage:")
			assert.True(t, regexp.MustCompile(`nodewright `+strings.Join(args, " ")).MatchString(stdout))
		}
	})
}
