package fleetsource

import (
	"fmt"
	"reflect"

	"github.com/go-git/go-git/v5"

	"github.com/nodewright/nodewright/reconciler/provenance"
	"github.com/nodewright/nodewright/schema/lint"
	"github.com/nodewright/nodewright/schema/render"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/source"
)

// history finds, in the verified history, the version of an operation
// that is in flight in the cluster: after a restart with an empty state
// directory, the provenance record knows only the versions of the commit
// just applied, and an operation whose newer version waits runs an older
// one.
type history struct {
	repo  *git.Repository
	site  string
	index []source.IndexEntry
}

// version returns the version of current's manifest that a verified
// commit set, when current's spec is exactly that manifest's. The path and
// blob current is annotated with are only where to look: a verified commit
// must have set that blob at that path (the approval index says which),
// and that commit's site, read and decoded as the apply step does
// (render.FromCommit, lint.Check), must hold current's spec there. Its
// admission verdict admits nothing (an operation in flight needs none, and
// one that halts is applied and judged again), and it is taken as started:
// the record that knew it started was lost with the state directory.
func (h *history) version(kind string, current v1.Operation) (provenance.Version, error) {
	path, blob := current.GetAnnotations()[v1.AnnotationPath], current.GetAnnotations()[v1.AnnotationBlob]
	commit := ""
	for i := len(h.index) - 1; i >= 0 && commit == ""; i-- {
		for _, c := range h.index[i].Changes {
			if c.Path == path && c.Blob == blob {
				commit = h.index[i].Commit
				break
			}
		}
	}
	if commit == "" {
		return provenance.Version{}, fmt.Errorf("no verified commit set %s to blob %s", path, blob)
	}
	tree, err := render.FromCommit(h.repo, commit)
	if err != nil {
		return provenance.Version{}, err
	}
	want := ""
	for _, o := range lint.Check(tree, h.site).Operations {
		op, ok := o.Object.(v1.Operation)
		if o.Path == path && ok && reflect.TypeOf(op) == reflect.TypeOf(current) && op.GetName() == current.GetName() {
			if want, err = provenance.SpecDigest(op); err != nil {
				return provenance.Version{}, err
			}
		}
	}
	if want == "" {
		return provenance.Version{}, fmt.Errorf("commit %s holds no valid %s %s at %s", short(commit), kind, current.GetName(), path)
	}
	got, err := provenance.SpecDigest(current)
	if err != nil {
		return provenance.Version{}, err
	}
	if got != want {
		return provenance.Version{}, fmt.Errorf("the spec in the cluster is not the manifest %s at commit %s", path, short(commit))
	}
	return provenance.Version{Commit: commit, Path: path, Blob: blob, Digest: want, Started: true,
		Admission: v1.Admission{Blob: blob, Reason: "InFlight", Message: "in flight since commit " + short(commit) + "; found again in the verified history"}}, nil
}
