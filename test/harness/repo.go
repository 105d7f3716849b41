package harness

import (
	"strings"

	"github.com/nodewright/nodewright/internal/sandbox"
)

// Repo is a git working copy driven by the real git CLI; a failing git
// fails the test.
type Repo struct {
	*sandbox.Repo
	t TB
}

// NewRepo makes an empty repository with branch main in a temporary folder.
func NewRepo(t TB) *Repo {
	t.Helper()
	return InitRepo(t, t.TempDir())
}

// InitRepo makes an empty repository with branch main in dir.
func InitRepo(t TB, dir string) *Repo {
	t.Helper()
	return &Repo{Repo: must(sandbox.InitRepo(dir))(t), t: t}
}

// Git runs git with args and returns its trimmed standard output.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	return must(r.Repo.Git(args...))(r.t)
}

// Write writes content to path (relative to the work tree).
func (r *Repo) Write(path, content string) {
	r.t.Helper()
	check(r.t, r.Repo.Write(path, content))
}

// Remove deletes path from the work tree.
func (r *Repo) Remove(path string) {
	r.t.Helper()
	check(r.t, r.Repo.Remove(path))
}

// Commit stages everything and commits it with message msg, signed by s
// (unsigned when s is nil). Empty commits are allowed. It returns the new
// commit id.
func (r *Repo) Commit(msg string, s Signer) string {
	r.t.Helper()
	return must(r.Repo.Commit(msg, s))(r.t)
}

// Approve makes an empty commit signed by s approving each path at its
// current blob id: "Nodewright-Approve: <path>@<blob>".
func (r *Repo) Approve(s Signer, paths ...string) string {
	r.t.Helper()
	return must(r.Repo.Approve(s, paths...))(r.t)
}

// Head returns the id of HEAD.
func (r *Repo) Head() string {
	r.t.Helper()
	return must(r.Repo.Head())(r.t)
}

// BlobID returns the blob id of path at rev.
func (r *Repo) BlobID(rev, path string) string {
	r.t.Helper()
	return must(r.Repo.BlobID(rev, path))(r.t)
}

// Merge merges branch into the current branch with a merge commit signed
// by s (unsigned when s is nil).
func (r *Repo) Merge(branch string, s Signer) string {
	r.t.Helper()
	return must(r.Repo.Merge(branch, s))(r.t)
}

// CatCommit returns the raw commit object of rev.
func (r *Repo) CatCommit(rev string) string {
	r.t.Helper()
	cmd := r.Cmd(nil, "cat-file", "commit", rev)
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("git cat-file commit %s: %v", rev, err)
	}
	return string(out)
}

// Forge writes raw as a commit object (bypassing git commit, as an
// attacker would) and moves the current branch to it.
func (r *Repo) Forge(raw string) string {
	r.t.Helper()
	id := must(r.Run(strings.NewReader(raw), nil, "hash-object", "-t", "commit", "-w", "--stdin"))(r.t)
	r.Git("reset", "-q", "--hard", id)
	return id
}

// Reset moves the current branch and work tree to rev, as a force-push
// of an older commit would.
func (r *Repo) Reset(rev string) {
	r.t.Helper()
	check(r.t, r.Repo.Reset(rev))
}

// Publish force-pushes HEAD to branch main of the bare repository at bare,
// creating it on first use, as pushing to a forge would. It returns bare.
func (r *Repo) Publish(bare string) string {
	r.t.Helper()
	check(r.t, r.Repo.Publish(bare))
	return bare
}

// ConfigureSigner writes s into the repository's own git config as its
// signing key, as a user's setup would, for commands that sign with
// "the user's git setup" (nodewright approve).
func (r *Repo) ConfigureSigner(s Signer) {
	r.t.Helper()
	check(r.t, r.Repo.ConfigureSigner(s))
}

// WrapRepo is r failing t on error, for a working copy the sandbox made.
func WrapRepo(t TB, r *sandbox.Repo) *Repo { return &Repo{Repo: r, t: t} }
