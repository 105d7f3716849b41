package statusbranch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/nodewright/nodewright/source/mirror"
)

// remote talks the git smart protocol to the status branch's repository
// directly: one ref advertisement per attempt, a fetch of only what is new
// and a push of exactly the objects a commit made, with the old tip in the
// update command so that the server refuses the push if the tip moved.
type remote struct {
	shown string // the URL without credentials, for messages
	ep    *transport.Endpoint
	tr    transport.Transport
	auth  transport.AuthMethod
	// stateless is true for HTTP(S), whose upload-pack needs no
	// advertisement before a fetch once its capabilities are known.
	stateless bool
	upCaps    *capability.List
}

func newRemote(rawURL string, auth transport.AuthMethod, caBundle []byte) (*remote, error) {
	shown := mirror.RedactURL(rawURL)
	endpoint, err := endpointURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("status branch %s: %w", shown, err)
	}
	ep, err := transport.NewEndpoint(endpoint)
	if err != nil {
		return nil, fmt.Errorf("status branch %s: %w", shown, err)
	}
	ep.CaBundle = caBundle
	tr, err := client.NewClient(ep)
	if err != nil {
		return nil, fmt.Errorf("status branch %s: %w", shown, err)
	}
	return &remote{shown: shown, ep: ep, tr: tr, auth: auth, stateless: ep.Protocol == "http" || ep.Protocol == "https"}, nil
}

// endpointURL passes URLs and scp-like addresses through and makes a local
// path absolute, as git does.
func endpointURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("no repository URL given")
	}
	if i := strings.Index(raw, "://"); i > 0 && !strings.ContainsAny(raw[:i], "/:@") {
		return raw, nil
	}
	if colon := strings.IndexByte(raw, ':'); colon > 0 && !strings.Contains(raw[:colon], "/") {
		return raw, nil // scp-like: [user@]host:path
	}
	abs, err := filepath.Abs(raw)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("local repository: %w", err)
	}
	return abs, nil
}

// tip is the branch as one advertisement showed it, with the session to
// push through.
type tip struct {
	sess   transport.ReceivePackSession
	caps   *capability.List
	hash   plumbing.Hash
	exists bool
}

// advertise asks the receive-pack service for the refs: the branch's tip,
// and the session to push to.
func (r *remote) advertise(ctx context.Context, branch plumbing.ReferenceName) (*tip, error) {
	sess, err := r.tr.NewReceivePackSession(r.ep, r.auth)
	if err != nil {
		return nil, r.wrap("connect", err)
	}
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		_ = sess.Close()
		return nil, r.wrap("list refs", err)
	}
	t := &tip{sess: sess, caps: adv.Capabilities}
	if h, ok := adv.References[branch.String()]; ok {
		t.hash, t.exists = h, true
	}
	return t, nil
}

// fetch downloads the objects of want that haves do not reach into st.
// With no haves it fetches only want's own tree (depth 1), not history.
func (r *remote) fetch(ctx context.Context, want plumbing.Hash, haves []plumbing.Hash, st storer.Storer) error {
	sess, err := r.tr.NewUploadPackSession(r.ep, r.auth)
	if err != nil {
		return r.wrap("connect", err)
	}
	defer func() { _ = sess.Close() }()
	if r.upCaps == nil || !r.stateless {
		adv, err := sess.AdvertisedReferencesContext(ctx)
		if err != nil {
			return r.wrap("fetch", err)
		}
		r.upCaps = adv.Capabilities
	}
	req := packp.NewUploadPackRequestFromCapabilities(r.upCaps)
	req.Wants = []plumbing.Hash{want}
	req.Haves = haves
	if len(haves) == 0 && r.upCaps.Supports(capability.Shallow) {
		req.Depth = packp.DepthCommits(1)
		if err := req.Capabilities.Set(capability.Shallow); err != nil {
			return err
		}
	}
	if r.upCaps.Supports(capability.NoProgress) {
		if err := req.Capabilities.Set(capability.NoProgress); err != nil {
			return err
		}
	}
	resp, err := sess.UploadPack(ctx, req)
	if errors.Is(err, transport.ErrEmptyUploadPackRequest) {
		return nil
	}
	if err != nil {
		return r.wrap("fetch", err)
	}
	defer func() { _ = resp.Close() }()
	var pack io.Reader = resp
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		pack = sideband.NewDemuxer(sideband.Sideband64k, resp)
	case req.Capabilities.Supports(capability.Sideband):
		pack = sideband.NewDemuxer(sideband.Sideband, resp)
	}
	if err := packfile.UpdateObjectStorage(st, pack); err != nil {
		return r.wrap("fetch", err)
	}
	return nil
}

// push sends objects (read from st) and moves branch from t's tip to
// newTip. A server that refuses the update answers with a *rejectedError.
func (r *remote) push(ctx context.Context, t *tip, branch plumbing.ReferenceName, newTip plumbing.Hash, objects []plumbing.Hash, st storer.EncodedObjectStorer) error {
	var pack bytes.Buffer
	if _, err := packfile.NewEncoder(&pack, st, !t.caps.Supports(capability.OFSDelta)).Encode(objects, 0); err != nil {
		return fmt.Errorf("status branch %s: pack: %w", r.shown, err)
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(t.caps)
	old := plumbing.ZeroHash
	if t.exists {
		old = t.hash
	}
	req.Commands = []*packp.Command{{Name: branch, Old: old, New: newTip}}
	req.Packfile = io.NopCloser(&pack)
	report, err := t.sess.ReceivePack(ctx, req)
	if report != nil {
		for _, cs := range report.CommandStatuses {
			if cs.Status != "ok" {
				return &rejectedError{url: r.shown, ref: cs.ReferenceName.String(), status: cs.Status}
			}
		}
		if report.UnpackStatus != "ok" {
			return &rejectedError{url: r.shown, status: "unpack " + report.UnpackStatus}
		}
	}
	if err != nil {
		return r.wrap("push", err)
	}
	return nil
}

// rejectedError is a push the server refused.
type rejectedError struct {
	url, ref, status string
}

func (e *rejectedError) Error() string {
	if e.ref == "" {
		return fmt.Sprintf("push to %s refused: %s", e.url, e.status)
	}
	return fmt.Sprintf("push to %s refused for %s: %s", e.url, e.ref, e.status)
}

// raced reports whether the refusal means the branch moved between the
// advertisement and the push, as git's receive-pack words it when the old
// value in the update command is no longer the ref's value.
func (e *rejectedError) raced() bool {
	for _, s := range []string{"failed to update ref", "failed to lock", "cannot lock ref", "stale info", "fetch first", "non-fast-forward", "reference already exists"} {
		if strings.Contains(e.status, s) {
			return true
		}
	}
	return false
}

// wrap names the URL in a transport error and marks it ErrUnreachable when
// the remote could not be talked to at all.
func (r *remote) wrap(op string, err error) error {
	if unreachable(err) {
		return fmt.Errorf("status branch %s: %s: %w: %w", r.shown, op, ErrUnreachable, err)
	}
	return fmt.Errorf("status branch %s: %s: %w", r.shown, op, err)
}

// unreachable reports whether err means the remote could not be reached or
// failed in transit (connection refused, reset, timed out, name not
// resolved, a 5xx answer), as opposed to a refusal.
func unreachable(err error) bool {
	// go-git wraps transport errors in types without Unwrap.
	for {
		var ue *plumbing.UnexpectedError
		if errors.As(err, &ue) && ue.Err != nil {
			err = ue.Err
			continue
		}
		break
	}
	var herr *githttp.Err
	if errors.As(err, &herr) {
		code := herr.StatusCode()
		return code >= 500 || code == 408 || code == 429
	}
	var nerr net.Error
	var uerr *url.Error
	var operr *net.OpError
	switch {
	case errors.As(err, &operr), errors.As(err, &nerr), errors.As(err, &uerr):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	}
	return false
}
