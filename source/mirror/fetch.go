package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// remoteName names the anonymous remote a fetch goes through. It is never
// written to the mirror's configuration.
const remoteName = "fleet"

// FetchOptions says what Fetch brings into the mirror.
type FetchOptions struct {
	// URL is the fleet repository: a local path (absolute or relative, of a
	// working repository or a bare one), a file://, http:// or https://
	// URL, an ssh:// URL or an scp-like address such as git@host:fleet.git.
	URL string
	// Branch is the branch to fetch, without refs/heads/.
	Branch string
	// Auth authenticates to the remote; nil uses what the URL carries, or
	// go-git's defaults (the SSH agent for SSH).
	Auth transport.AuthMethod
	// Progress receives the remote's progress messages when not nil.
	Progress io.Writer
	// CABundle holds PEM certificate authorities to trust for https
	// remotes in addition to the system's.
	CABundle []byte
}

// Fetch brings refs/heads/<Branch> of the remote and the objects it needs
// into the mirror and returns the fetched tip. The branch is updated even when
// the new tip does not descend from the old one: guarding against rollbacks
// is the verifier's job. A fetch downloads only objects the mirror lacks, and
// a fetch that finds nothing new returns the current tip.
//
// Error messages name the URL with any credentials it embeds removed.
func (m *Mirror) Fetch(ctx context.Context, o FetchOptions) (plumbing.Hash, error) {
	shown := RedactURL(o.URL)
	if o.Branch == "" {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: no branch given", shown)
	}
	branch := plumbing.NewBranchReferenceName(o.Branch)
	if err := branch.Validate(); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: branch %q is not a valid branch name", shown, o.Branch)
	}
	endpoint, err := endpointURL(o.URL)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: %w", shown, err)
	}

	m.mu.Lock()
	defer m.mu.Unlock()

	remote := git.NewRemote(m.storer, &config.RemoteConfig{Name: remoteName, URLs: []string{endpoint}})
	before := m.tempPacks()
	err = remote.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		// Forced: the remote may have been force-pushed; the verifier,
		// not the mirror, refuses a tip that is not a fast-forward.
		RefSpecs: []config.RefSpec{config.RefSpec("+" + branch.String() + ":" + branch.String())},
		Auth:     o.Auth,
		Progress: o.Progress,
		Tags:     git.NoTags,
		CABundle: o.CABundle,
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
	case errors.Is(err, git.NoMatchingRefSpecError{}), errors.Is(err, transport.ErrEmptyRemoteRepository):
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: the remote has no branch %q", shown, o.Branch)
	default:
		m.removeNewTempPacks(before)
		return plumbing.ZeroHash, &FetchError{URL: shown, err: err, secrets: urlSecrets(o.URL)}
	}

	tip, ok, err := m.hashRef(branch)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if !ok {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: branch %q is missing from the mirror after the fetch", shown, o.Branch)
	}
	return tip, nil
}

// FetchError is a failed fetch. Its message names the URL without
// credentials and has any credentials that the transport's own message
// repeated replaced; Unwrap gives the transport's error for errors.Is.
type FetchError struct {
	// URL is the remote, with credentials removed.
	URL     string
	err     error
	secrets []string
}

// Error implements error as "fetch <URL>: <cause>".
func (e *FetchError) Error() string {
	msg := e.err.Error()
	for _, s := range e.secrets {
		msg = strings.ReplaceAll(msg, s, "<redacted>")
	}
	return "fetch " + e.URL + ": " + msg
}

// Unwrap returns the transport's error.
func (e *FetchError) Unwrap() error { return e.err }

// endpointURL turns what a person typed into something go-git's transports
// accept. URLs with a scheme and scp-like addresses pass through; anything
// else is a local path (as git decides it: no colon, or a slash before the
// first colon), made absolute and checked to exist so the error is clear.
func endpointURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("no repository URL or path given")
	}
	if hasScheme(raw) || isSCPLike(raw) {
		return raw, nil
	}
	abs, err := filepath.Abs(raw)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("local repository: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("local repository %s is not a directory", abs)
	}
	// A colon in an absolute path would make it look scp-like to go-git;
	// a file URL says unambiguously what it is.
	if strings.Contains(abs, ":") {
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String(), nil
	}
	return abs, nil
}

// hasScheme reports whether s starts with "<scheme>://".
func hasScheme(s string) bool {
	i := strings.Index(s, "://")
	return i > 0 && !strings.ContainsAny(s[:i], "/:@")
}

// isSCPLike reports whether s is an scp-like address "[user@]host:path",
// following git's rule: a colon with no slash before it.
func isSCPLike(s string) bool {
	colon := strings.IndexByte(s, ':')
	if colon <= 0 {
		return false
	}
	return !strings.Contains(s[:colon], "/")
}

// RedactURL returns raw with the credentials it embeds removed, for messages
// and logs. The user info of an http or https URL is replaced as a whole
// (a token is often passed as the user name); for other schemes only a
// password is.
func RedactURL(raw string) string {
	if !hasScheme(raw) {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		// An unparsable URL may still carry "user:password@host".
		scheme, rest, _ := strings.Cut(raw, "://")
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if slash := strings.Index(rest, "/"); slash < 0 || at < slash {
				return scheme + "://<redacted>@" + rest[at+1:]
			}
		}
		return raw
	}
	if u.User == nil {
		return raw
	}
	_, hasPassword := u.User.Password()
	switch {
	case u.Scheme == "http" || u.Scheme == "https" || hasPassword:
		u.User = nil
		s := u.String()
		scheme, rest, _ := strings.Cut(s, "://")
		return scheme + "://<redacted>@" + rest
	default:
		return raw
	}
}

// urlSecrets lists the credential strings of raw that must not appear in a
// message, longest first so that "user:password" goes before "password".
func urlSecrets(raw string) []string {
	if !hasScheme(raw) {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return nil
	}
	var out []string
	out = append(out, u.User.String())
	if p, ok := u.User.Password(); ok && p != "" {
		out = append(out, p, url.QueryEscape(p), url.PathEscape(p))
	}
	if u.Scheme == "http" || u.Scheme == "https" {
		if n := u.User.Username(); len(n) >= 8 {
			// A long user name is likely a token; short ones such as
			// "git" would also blank out unrelated words.
			out = append(out, n)
		}
	}
	return out
}
