package lint

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodewright/nodewright/schema/example"
	"github.com/nodewright/nodewright/schema/render"
)

// fleetOf makes a fleet of n sites, each patched from the example base,
// with ten operations per site (n*10 in all).
func fleetOf(n int) map[string][]byte {
	ex := example.Files()
	files := map[string][]byte{}
	for p, data := range ex {
		if strings.HasPrefix(p, "bases/") {
			files[p] = data
		}
	}
	kust := string(ex["sites/edge-001/kustomization.yaml"])
	for i := 0; i < n; i++ {
		site := fmt.Sprintf("edge-%04d", i)
		files["sites/"+site+"/kustomization.yaml"] = []byte(strings.ReplaceAll(kust, "edge-001", site))
		for j := 0; j < 10; j++ {
			var src string
			switch j % 3 {
			case 0:
				src = "sites/edge-001/operations/bond-flip.yaml"
			case 1:
				src = "sites/edge-001/operations/replication.yaml"
			default:
				src = "sites/edge-001/operations/vm-migration.yaml"
			}
			doc := string(ex[src])
			for _, name := range []string{"bond0-to-lacp", "vm-disks-to-3", "db-to-r3"} {
				doc = strings.Replace(doc, "name: "+name, fmt.Sprintf("name: %s-%d", name, j), 1)
			}
			files[fmt.Sprintf("sites/%s/operations/op-%02d.yaml", site, j)] = []byte(doc)
		}
	}
	return files
}

// BenchmarkLintInProcess lints 500 sites and 5,000 operations in memory.
func BenchmarkLintInProcess(b *testing.B) {
	tree := render.NewTree(fleetOf(500))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep := Lint(tree)
		if rep.Errors() != 0 || len(rep.Sites) != 500 {
			b.Fatalf("%d errors in %d sites: %v", rep.Errors(), len(rep.Sites), rep.Problems[:min(3, len(rep.Problems))])
		}
	}
}

// BenchmarkLintCommand runs the real "nodewright lint" on fleets of 50
// and 500 sites (10 operations each) written to disk, reporting wall time
// and peak RSS. Targets at 500 sites: under 10 s and under 500 MB.
func BenchmarkLintCommand(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "nodewright")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/nodewright")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	var times []time.Duration
	for _, n := range []int{50, 500} {
		dir := b.TempDir()
		for p, data := range fleetOf(n) {
			path := filepath.Join(dir, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		var best time.Duration
		var rss int64
		for i := 0; i < b.N; i++ {
			cmd := exec.Command(bin, "lint", "--repo", dir)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			took := time.Since(start)
			if err != nil {
				b.Fatalf("lint %d sites: %v\n%.2000s", n, err, out)
			}
			if best == 0 || took < best {
				best = took
			}
			rss = max(rss, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
		}
		times = append(times, best)
		b.ReportMetric(best.Seconds(), fmt.Sprintf("s/lint-%d-sites", n))
		b.ReportMetric(float64(rss)/1024, fmt.Sprintf("peak-MB-%d-sites", n))
		b.Logf("lint %d sites, %d operations: %s, peak RSS %d MB", n, n*10, best.Round(time.Millisecond), rss/1024)
	}
	b.ReportMetric(float64(times[1])/float64(times[0]), "growth-50-to-500")
}
