package dashboard_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/fleet/dashboard"
	"github.com/nodewright/nodewright/fleet/view"
	"github.com/nodewright/nodewright/fleet/view/viewtest"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/harness"
)

// chromium is Debian's chromium package; make test installs it.
const chromium = "/usr/bin/chromium"

// TestDashboardInChromium writes the dashboard of a real status branch
// and loads it from file:// in headless chromium, checking what the page
// shows after its script ran.
func TestDashboardInChromium(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("%s is not installed (Debian package chromium; make test installs it): %v", chromium, err)
	}
	f := viewtest.New(t,
		viewtest.Spec{Name: "edge-north-1", Site: "north", Key: harness.NewSSHKey(t, "edge-north-1")},
		viewtest.Spec{Name: "edge-north-2", Site: "north", Key: harness.NewSSHKey(t, "edge-north-2")},
		viewtest.Spec{Name: "edge-south-1", Site: "south", Key: harness.NewSSHKey(t, "edge-south-1")},
	)
	f.Report("edge-north-1", f.Status("edge-north-1", 2*time.Minute, 3, 3,
		v1.OperationSummary{Kind: "BondModeFlipPlan", Name: "bond0-to-lacp", Phase: "Flip", Progress: "1/3 nodes"}),
		f.Transition("edge-north-1", "BondModeFlipPlan", "bond0-to-lacp", "Pending", "AwaitingApproval", "ApprovalRequired", 30*time.Minute),
		f.Transition("edge-north-1", "BondModeFlipPlan", "bond0-to-lacp", "AwaitingApproval", "Preflight", "Approved", 20*time.Minute))
	f.Report("edge-north-2", f.Status("edge-north-2", 5*time.Hour, 2, 2))
	f.Report("edge-south-1", f.Status("edge-south-1", time.Minute, 1, 2,
		v1.OperationSummary{Kind: "VMVolumeMigration", Name: "db-volume", Phase: "Halted", Progress: "Copying failed"}),
		f.Transition("edge-south-1", "VMVolumeMigration", "db-volume", "Copying", "Halted", "CopyFailed", 3*time.Minute))

	r, err := view.Open(context.Background(), view.Source{Repo: f.Dir})
	require.NoError(t, err)
	defer r.Close()
	fl, err := view.Load(r, view.Options{Now: f.Now})
	require.NoError(t, err)
	recs, problems, err := view.Log(r, view.Filter{})
	require.NoError(t, err)
	require.Empty(t, problems)
	out := t.TempDir()
	require.NoError(t, dashboard.Write(out, fl, recs))

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--dump-dom", "file://"+filepath.Join(out, dashboard.FileName))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "chromium: %s", stderr.String())
	dom := stdout.String()

	assert.Contains(t, dom, `data-ready="true"`, "the inline script ran under the page's Content-Security-Policy")
	assert.Contains(t, dom, "3 of 3 clusters shown", "the script counted the fleet table")
	for _, name := range []string{"edge-north-1", "edge-north-2", "edge-south-1"} {
		assert.Contains(t, dom, `<tr class="cluster `, name)
		assert.Contains(t, dom, `data-cluster="`+name+`"`)
		assert.Contains(t, dom, `id="cluster-`+name+`"`)
	}
	assert.Contains(t, dom, "Unknown (last report 5h ago)")
	assert.Contains(t, dom, `<li class="op-failed"><span class="badge failed">FAILED</span> VMVolumeMigration/db-volume <b>Halted</b> (Copying failed)</li>`)
	assert.Contains(t, dom, `<tr class="op op-failed"><td>VMVolumeMigration/db-volume</td><td>Halted</td>`)
	assert.Contains(t, dom, "Degraded (1/2 nodes ready, 1 failed operation)")
	assert.Contains(t, dom, "BondModeFlipPlan/bond0-to-lacp <b>Flip</b> (1/3 nodes)")
	assert.Contains(t, dom, `<tr class="record" data-cluster="edge-south-1">`)
	assert.Contains(t, dom, "Copying → Halted")
	assert.Contains(t, dom, "Pending → AwaitingApproval")
	assert.Contains(t, dom, "; 3 records.")
}
