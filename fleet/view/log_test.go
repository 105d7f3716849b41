package view_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/fleet/view"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func TestLogFilters(t *testing.T) {
	f := sampleFleet(t)
	r := open(t, view.Source{Repo: f.Dir})
	ids := func(recs []v1.AuditRecord) []string {
		var out []string
		for _, rec := range recs {
			out = append(out, rec.Cluster+"#"+string(rune('0'+rec.Seq)))
		}
		return out
	}
	cases := []struct {
		name   string
		filter view.Filter
		want   []string
	}{
		// alpha: seq 1-3 at -40m, -30m, -20m; bravo: seq 1 at -4h; charlie: seq 1 at -10m.
		{"all, newest first", view.Filter{}, []string{"charlie#1", "alpha#3", "alpha#2", "alpha#1", "bravo#1"}},
		{"all, oldest first", view.Filter{OldestFirst: true}, []string{"bravo#1", "alpha#1", "alpha#2", "alpha#3", "charlie#1"}},
		{"cluster", view.Filter{Cluster: "alpha"}, []string{"alpha#3", "alpha#2", "alpha#1"}},
		{"site", view.Filter{Site: "north"}, []string{"charlie#1", "bravo#1"}},
		{"operation", view.Filter{Kind: "BondModeFlipPlan", Name: "bond0-to-lacp"}, []string{"alpha#3", "alpha#2", "alpha#1"}},
		{"operation kind", view.Filter{Kind: "VMVolumeMigration"}, []string{"charlie#1"}},
		{"operation name not found", view.Filter{Kind: "BondModeFlipPlan", Name: "other"}, nil},
		{"since", view.Filter{Since: f.Now.Add(-30 * time.Minute)}, []string{"charlie#1", "alpha#3", "alpha#2"}},
		{"until", view.Filter{Until: f.Now.Add(-30 * time.Minute)}, []string{"alpha#2", "alpha#1", "bravo#1"}},
		{"range", view.Filter{Since: f.Now.Add(-35 * time.Minute), Until: f.Now.Add(-15 * time.Minute), OldestFirst: true}, []string{"alpha#2", "alpha#3"}},
		{"limit", view.Filter{Limit: 2}, []string{"charlie#1", "alpha#3"}},
		{"unknown cluster", view.Filter{Cluster: "zulu"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recs, problems, err := view.Log(r, c.filter)
			require.NoError(t, err)
			assert.Empty(t, problems)
			assert.Equal(t, c.want, ids(recs))
		})
	}
}

func TestLogReportsUnreadableFiles(t *testing.T) {
	f := sampleFleet(t)
	lines := append(f.AuditLines("alpha"), "not json")
	f.SetAuditLines("alpha", lines)
	f.Commit(f.Clusters["alpha"].Key, "alpha: broken", nil)
	recs, problems, err := view.Log(open(t, view.Source{Repo: f.Dir}), view.Filter{})
	require.NoError(t, err)
	assert.Len(t, recs, 2, "the other clusters' records are still listed")
	require.Len(t, problems, 1)
	assert.Equal(t, view.AuditBroken, problems[0].Code)
	assert.Equal(t, 4, problems[0].Line)
	assert.Contains(t, problems[0].Message, "cluster alpha: clusters/alpha/audit.jsonl:4: invalid JSON")
}
