package lint

import (
	"fmt"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/nodewright/nodewright/schema/manifest"
	"github.com/nodewright/nodewright/schema/render"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/schema/validate"
)

// Site is what lint found of one site.
type Site struct {
	// Name is the site's folder name.
	Name string `json:"name"`
	// Profile is the rendered, defaulted profile (nil when it failed).
	Profile *v1.EdgeProfile `json:"-"`
	// Operations are the decoded, defaulted operations that had no errors.
	Operations []Operation `json:"-"`
	// OperationFiles counts the operation files read.
	OperationFiles int `json:"operationFiles"`
	// Problems are the site's problems.
	Problems manifest.Problems `json:"problems"`
}

// Operation is a valid operation manifest and the file it came from.
type Operation struct {
	Path   string
	Object v1.Object
}

// Report is the outcome of linting a tree.
type Report struct {
	Sites    []*Site           `json:"sites"`
	Problems manifest.Problems `json:"problems"`
}

// Errors counts the error-severity problems.
func (r *Report) Errors() int { return r.Problems.Errors() }

// Lint checks the given sites of tree (all sites when none are named),
// using every CPU.
func Lint(tree *render.Tree, sites ...string) *Report {
	all := tree.Sites()
	rep := &Report{}
	if len(sites) == 0 {
		sites = all
	}
	for _, s := range sites {
		found := false
		for _, a := range all {
			found = found || a == s
		}
		if !found {
			rep.Problems = append(rep.Problems, manifest.Problem{File: "sites/" + s, Severity: manifest.Error,
				Message: fmt.Sprintf("no such site; the repository has: %s", orNone(all))})
		}
	}
	results := make([]*Site, len(sites))
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				results[i] = Check(tree, sites[i])
			}
		}()
	}
	for i := range sites {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, r := range results {
		if r != nil && (r.Profile != nil || len(r.Problems) > 0 || r.OperationFiles > 0) {
			rep.Sites = append(rep.Sites, r)
			rep.Problems = append(rep.Problems, r.Problems...)
		}
	}
	rep.Problems.Sort()
	// A problem in a shared base shows once, not once per site using it.
	rep.Problems = slices.Compact(rep.Problems)
	return rep
}

func orNone(xs []string) string {
	if len(xs) == 0 {
		return "no sites"
	}
	return strings.Join(xs, ", ")
}

// Check renders and validates one site.
func Check(tree *render.Tree, site string) *Site {
	s := &Site{Name: site}
	if len(tree.Files("sites/"+site)) == 0 {
		return s
	}
	doc, problems := tree.Profile(site)
	s.Problems = append(s.Problems, problems...)
	if doc != nil {
		v1.Default(doc.Object)
		s.Problems = append(s.Problems, validate.Profile(doc, site)...)
		s.Profile = doc.Object.(*v1.EdgeProfile)
	}
	names := map[string]string{} // kind/name -> file
	for _, file := range tree.Files("sites/" + site + "/operations") {
		ext := path.Ext(file)
		if ext != ".yaml" && ext != ".yml" {
			s.Problems = append(s.Problems, manifest.Problem{File: file, Severity: manifest.Error, Message: "is not a .yaml file; operations/ holds one operation manifest per .yaml file"})
			continue
		}
		if strings.Count(strings.TrimPrefix(file, "sites/"+site+"/operations/"), "/") > 0 {
			s.Problems = append(s.Problems, manifest.Problem{File: file, Severity: manifest.Error, Message: "is in a subfolder; operations/ is flat"})
			continue
		}
		s.OperationFiles++
		data, _ := tree.File(file)
		op, problems := manifest.Decode(file, data, v1.OperationKinds...)
		s.Problems = append(s.Problems, problems...)
		if op == nil {
			continue
		}
		v1.Default(op.Object)
		vp := validate.Operation(op, s.Profile)
		s.Problems = append(s.Problems, vp...)
		key := op.Kind + "/" + op.Object.GetName()
		if other, dup := names[key]; dup && op.Object.GetName() != "" {
			s.Problems = append(s.Problems, op.Problem(manifest.Error, "metadata.name", "%s %q is already defined in %s", op.Kind, op.Object.GetName(), other))
		}
		names[key] = file
		if problems.Errors() == 0 && vp.Errors() == 0 {
			s.Operations = append(s.Operations, Operation{Path: file, Object: op.Object})
		}
	}
	s.Problems.Sort()
	return s
}
