package dashboard

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nodewright/nodewright/fleet/view"
	"github.com/nodewright/nodewright/internal/atomicfile"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// FileName is the page Write writes.
const FileName = "index.html"

// MaxAuditRecords bounds the audit log on the page (the newest are kept);
// nodewright audit log lists everything.
const MaxAuditRecords = 5000

// MaxClusterRecords bounds the newest records shown in each cluster's
// detail section.
const MaxClusterRecords = 10

//go:embed index.html.tmpl
var pageSource string

var page = template.Must(template.New("index.html").Funcs(template.FuncMap{
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"lower": func(s any) string { return strings.ToLower(fmt.Sprint(s)) },
	"stamp": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).Parse(pageSource))

// data is what the template renders.
type data struct {
	Fleet        *view.Fleet
	Clusters     []cluster
	Counts       []count
	Records      []record
	TotalRecords int
	Shown        int
}

type count struct {
	Health view.Health
	N      int
}

type cluster struct {
	view.Cluster
	ID         string
	AppliedAge string
	ReportAge  string
	Records    []record
}

type record struct {
	v1.AuditRecord
	Stamp string
	Age   string
}

// Write renders the fleet and its audit records (any order; the page shows
// them newest first) into dir/index.html, creating dir when needed. The
// file is written with atomicfile (a synced temporary file renamed into
// place), so a static host never serves half a page, even after a crash.
func Write(dir string, f *view.Fleet, records []v1.AuditRecord) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	err := atomicfile.Write(filepath.Join(dir, FileName), 0o644, func(w io.Writer) error {
		return Render(w, f, records)
	})
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}

// Render writes the page to w.
func Render(w io.Writer, f *view.Fleet, records []v1.AuditRecord) error {
	now := f.GeneratedAt
	recs := append([]v1.AuditRecord(nil), records...)
	view.SortRecords(recs, false)
	d := data{Fleet: f, TotalRecords: len(recs)}
	byCluster := map[string][]record{}
	for i, r := range recs {
		rec := record{AuditRecord: r, Stamp: r.Time.UTC().Format(time.RFC3339), Age: view.Age(now.Sub(r.Time.Time)) + " ago"}
		if i < MaxAuditRecords {
			d.Records = append(d.Records, rec)
		}
		if len(byCluster[r.Cluster]) < MaxClusterRecords {
			byCluster[r.Cluster] = append(byCluster[r.Cluster], rec)
		}
	}
	d.Shown = len(d.Records)
	counts := map[view.Health]int{}
	for _, c := range f.Clusters {
		counts[c.Health]++
		vc := cluster{Cluster: c, ID: "cluster-" + c.Name, Records: byCluster[c.Name]}
		if c.AppliedCommitTime != nil {
			vc.AppliedAge = view.Age(now.Sub(*c.AppliedCommitTime))
		}
		if c.LastReport != nil {
			vc.ReportAge = view.Age(now.Sub(*c.LastReport)) + " ago"
		}
		d.Clusters = append(d.Clusters, vc)
	}
	for _, h := range []view.Health{view.Healthy, view.Degraded, view.Unknown, view.Invalid} {
		d.Counts = append(d.Counts, count{Health: h, N: counts[h]})
	}
	if err := page.Execute(w, d); err != nil {
		return fmt.Errorf("dashboard: render: %w", err)
	}
	return nil
}
