package fleetsource

import (
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/nodewright/nodewright/reconciler/provenance"
	"github.com/nodewright/nodewright/schema/manifest"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/source"
)

// maxManifest bounds the size of an operation manifest read back from the
// mirror.
const maxManifest = 1 << 20

// history finds, in the verified history, the version of an operation
// that is in flight in the cluster: after a restart with an empty state
// directory, the provenance record knows only the versions of the commit
// just applied, and an operation whose newer version waits runs an older
// one.
type history struct {
	repo  *git.Repository
	index []source.IndexEntry
}

// version returns the version of current's manifest that a verified
// commit set, when current's spec is exactly that manifest's. The path and
// blob current is annotated with are only where to look: the version must
// be in the approval index (a verified commit set that blob at that path)
// and the blob's manifest must be current's spec. Its admission verdict
// admits nothing (an operation in flight needs none, and one that halts is
// applied and judged again), and it is taken as started: the record that
// knew it started was lost with the state directory.
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
	data, err := h.blob(blob)
	if err != nil {
		return provenance.Version{}, err
	}
	doc, problems := manifest.Decode(path, data, kind)
	if doc == nil || problems.Errors() > 0 {
		return provenance.Version{}, fmt.Errorf("manifest %s at blob %s: %w", path, blob, problems)
	}
	obj, ok := doc.Object.(v1.Operation)
	if !ok || obj.GetName() != current.GetName() {
		return provenance.Version{}, fmt.Errorf("manifest %s at blob %s is not %s %s", path, blob, kind, current.GetName())
	}
	want, err := provenance.SpecDigest(obj)
	if err != nil {
		return provenance.Version{}, err
	}
	got, err := provenance.SpecDigest(current)
	if err != nil {
		return provenance.Version{}, err
	}
	if got != want {
		return provenance.Version{}, fmt.Errorf("the spec in the cluster is not the manifest %s at blob %s", path, blob)
	}
	return provenance.Version{Commit: commit, Path: path, Blob: blob, Digest: want,
		Admission: v1.Admission{Blob: blob, Reason: "InFlight", Message: "in flight since commit " + short(commit) + "; found again in the verified history"}, Started: true}, nil
}

func (h *history) blob(id string) ([]byte, error) {
	if !plumbing.IsHash(id) {
		return nil, fmt.Errorf("blob id %q is not a SHA-1", id)
	}
	b, err := h.repo.BlobObject(plumbing.NewHash(id))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", id, err)
	}
	if b.Size > maxManifest {
		return nil, fmt.Errorf("blob %s: %d bytes, more than a manifest may have (%d)", id, b.Size, maxManifest)
	}
	rd, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	data, err := io.ReadAll(io.LimitReader(rd, maxManifest+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxManifest {
		return nil, errors.New("blob larger than it says")
	}
	return data, nil
}
