package dashboard

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewright/nodewright/fleet/view"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func tp(t time.Time) *time.Time { return &t }

func fixture() (*view.Fleet, []v1.AuditRecord) {
	f := &view.Fleet{
		Repo: "https://git.example.test/fleet.git", Branch: "nodewright/status", Commit: strings.Repeat("a", 40),
		FleetBranch: "main", FleetCommit: strings.Repeat("b", 40), GeneratedAt: now, StaleAfter: view.Duration(time.Hour),
		Clusters: []view.Cluster{
			{Name: "edge-1", Site: "north", AppliedCommit: strings.Repeat("b", 40), AppliedCommitTime: tp(now.Add(-50 * time.Hour)), AppliedIsFleetTip: true,
				PolicyVersion: 3, Nodes: v1.NodeHealthSummary{Total: 3, Ready: 3}, LastReport: tp(now.Add(-time.Minute)),
				Operations: []view.Operation{{Kind: "BondModeFlipPlan", Name: "bond0", Phase: "Flip", Progress: "1/3 nodes", State: view.InFlight}},
				Health:     view.Healthy, Summary: "Healthy (3/3 nodes ready)"},
			{Name: "edge-2", Site: "south", PolicyVersion: 3, Nodes: v1.NodeHealthSummary{Total: 2, Ready: 1}, LastReport: tp(now.Add(-3 * time.Hour)),
				Operations: []view.Operation{{Kind: "VMVolumeMigration", Name: "db", Phase: "Halted", State: view.Failed}},
				Health:     view.Unknown, Summary: "Unknown (last report 3h ago)"},
			{Name: "edge-4", Site: "west", Nodes: v1.NodeHealthSummary{Total: 1, Ready: 1}, LastReport: tp(now), Health: view.Degraded, Summary: "Degraded (1/1 nodes ready, 7 failed operations)",
				Operations: []view.Operation{{Kind: "ReplicationUpgrade", Name: "rg-0", Phase: "Placing", State: view.InFlight}}, Truncated: true, TotalOperations: 300, InFlight: 12, FailedOperations: 7},
			{Name: "edge-3", Health: view.Invalid, Summary: "Invalid: bad", Problem: "clusters/edge-3/status.yaml:3: nodez: unknown field", Operations: []view.Operation{}},
		},
	}
	recs := []v1.AuditRecord{
		{Seq: 1, Time: metav1.NewTime(now.Add(-2 * time.Hour)), Cluster: "edge-1", Site: "north", Kind: "BondModeFlipPlan", Name: "bond0", From: "Pending", To: "AwaitingApproval", Reason: "ApprovalRequired", Message: "needs 2 approvals <script>alert(1)</script>", Actor: "nodewright-reconciler"},
		{Seq: 2, Time: metav1.NewTime(now.Add(-time.Hour)), Cluster: "edge-1", Site: "north", Kind: "BondModeFlipPlan", Name: "bond0", From: "AwaitingApproval", To: "Preflight", Reason: "Approved", Actor: "nodewright-reconciler"},
	}
	return f, recs
}

func TestRender(t *testing.T) {
	f, recs := fixture()
	var b bytes.Buffer
	require.NoError(t, Render(&b, f, recs))
	html := b.String()

	for _, want := range []string{
		`<tr class="cluster health-healthy" data-cluster="edge-1">`,
		`<code>bbbbbbbbbbbb</code> <span class="note">(2d old, fleet tip)</span>`,
		`BondModeFlipPlan/bond0 <b>Flip</b> (1/3 nodes)`,
		`<span class="summary">Unknown (last report 3h ago)</span>`,
		`<li class="op-failed"><span class="badge failed">FAILED</span> VMVolumeMigration/db <b>Halted</b></li>`,
		`Status report unreadable: clusters/edge-3/status.yaml:3: nodez: unknown field`,
		`<section class="detail cluster health-unknown" id="cluster-edge-2" data-cluster="edge-2">`,
		`needs 2 approvals &lt;script&gt;alert(1)&lt;/script&gt;`,
		`<span class="badge healthy">1 Healthy</span>`,
		`silent clusters are Unknown after 1h0m0s`,
		`<div class="note">summary of 300 operations: 12 in flight, 7 failed</div>`,
		`The report is a summary: it lists 1 of 300 operations (12 in flight, 7 failed in all).`,
	} {
		assert.Contains(t, html, want)
	}
	assert.NotContains(t, html, "<script>alert(1)")
	// Newest first.
	assert.Less(t, strings.Index(html, "AwaitingApproval → Preflight"), strings.Index(html, "Pending → AwaitingApproval"))
}

func TestRenderIsSelfContained(t *testing.T) {
	f, recs := fixture()
	var b bytes.Buffer
	require.NoError(t, Render(&b, f, recs))
	html := b.String()
	for _, re := range []string{`(?i)<link\b`, `(?i)\bsrc\s*=`, `(?i)url\(`, `(?i)@import`, `(?i)href="(https?:)?//`} {
		assert.NotRegexp(t, regexp.MustCompile(re), html, "the page must load nothing from elsewhere")
	}
	assert.Contains(t, html, `content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"`)
}

func TestRenderCapsTheAuditLog(t *testing.T) {
	f, _ := fixture()
	var recs []v1.AuditRecord
	for i := range MaxAuditRecords + 3 {
		recs = append(recs, v1.AuditRecord{Seq: int64(i + 1), Time: metav1.NewTime(now.Add(-time.Duration(i) * time.Second)), Cluster: "edge-1", Kind: "K", Name: "n"})
	}
	var b bytes.Buffer
	require.NoError(t, Render(&b, f, recs))
	html := b.String()
	assert.Equal(t, MaxAuditRecords, strings.Count(html, `<tr class="record"`))
	assert.Contains(t, html, "the newest 5000 of 5003 records")
}

func TestWrite(t *testing.T) {
	f, recs := fixture()
	dir := filepath.Join(t.TempDir(), "out", "site")
	require.NoError(t, Write(dir, f, recs))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only index.html, no temporary file left")
	assert.Equal(t, FileName, entries[0].Name())
	data, err := os.ReadFile(filepath.Join(dir, FileName))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(data), "<!DOCTYPE html>"))
}
