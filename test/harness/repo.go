package harness

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Repo is a git working copy driven by the real git CLI.
type Repo struct {
	t   TB
	Dir string
	// clock, when set, fixes author and committer dates; each commit
	// advances it by one minute so histories are reproducible and ordered.
	clock time.Time
}

// NewRepo makes an empty repository with branch main in a temporary folder.
func NewRepo(t TB) *Repo {
	t.Helper()
	return InitRepo(t, t.TempDir())
}

// InitRepo makes an empty repository with branch main in dir.
func InitRepo(t TB, dir string) *Repo {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("mkdir %s: %v", dir, err)
	}
	r := &Repo{t: t, Dir: dir}
	r.Git("init", "-q", "-b", "main")
	return r
}

// SetClock fixes the author and committer date of the next commit to c;
// each commit after it is one minute later.
func (r *Repo) SetClock(c time.Time) { r.clock = c }

// gitCmd prepares a git command in the work tree with a neutral identity.
func (r *Repo) gitCmd(extraEnv []string, args ...string) *exec.Cmd {
	base := []string{"-c", "user.name=Nodewright Test", "-c", "user.email=test@example.test",
		"-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", "-c", "init.defaultBranch=main"}
	cmd := exec.Command("git", append(base, args...)...)
	cmd.Dir = r.Dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "LC_ALL=C")
	cmd.Env = append(cmd.Env, extraEnv...)
	return cmd
}

// Git runs git with args and returns its trimmed standard output; a
// failure fails the test.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	return r.run(nil, args...)
}

func (r *Repo) run(env []string, args ...string) string {
	r.t.Helper()
	cmd := r.gitCmd(env, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// Write writes content to path (relative to the work tree).
func (r *Repo) Write(path, content string) {
	r.t.Helper()
	writeFile(r.t, filepath.Join(r.Dir, path), content, 0o644)
}

// Remove deletes path from the work tree.
func (r *Repo) Remove(path string) {
	r.t.Helper()
	if err := os.RemoveAll(filepath.Join(r.Dir, path)); err != nil {
		r.t.Fatalf("remove %s: %v", path, err)
	}
}

// Commit stages everything and commits it with message msg, signed by s
// (unsigned when s is nil). Empty commits are allowed. It returns the new
// commit id.
func (r *Repo) Commit(msg string, s Signer) string {
	r.t.Helper()
	r.Git("add", "-A")
	var env []string
	args := []string{}
	if s != nil {
		args = append(args, s.GitConfig()...)
		env = append(env, s.Env()...)
	}
	args = append(args, "commit", "-q", "--allow-empty", "-m", msg)
	if s != nil {
		args = append(args, "-S")
	}
	if !r.clock.IsZero() {
		d := r.clock.Format(time.RFC3339)
		env = append(env, "GIT_AUTHOR_DATE="+d, "GIT_COMMITTER_DATE="+d)
		r.clock = r.clock.Add(time.Minute)
	}
	r.run(env, args...)
	return r.Head()
}

// Approve makes an empty commit signed by s approving path at its
// current blob id: "Nodewright-Approve: <path>@<blob>".
func (r *Repo) Approve(s Signer, paths ...string) string {
	r.t.Helper()
	var b strings.Builder
	b.WriteString("Approve\n\n")
	for _, p := range paths {
		fmt.Fprintf(&b, "Nodewright-Approve: %s@%s\n", p, r.BlobID("HEAD", p))
	}
	return r.Commit(b.String(), s)
}

// Head returns the id of HEAD.
func (r *Repo) Head() string { return r.Git("rev-parse", "HEAD") }

// BlobID returns the blob id of path at rev.
func (r *Repo) BlobID(rev, path string) string { return r.Git("rev-parse", rev+":"+path) }

// Merge merges branch into the current branch with a merge commit signed
// by s (unsigned when s is nil).
func (r *Repo) Merge(branch string, s Signer) string {
	r.t.Helper()
	var env []string
	args := []string{}
	if s != nil {
		args = append(args, s.GitConfig()...)
		env = append(env, s.Env()...)
	}
	args = append(args, "merge", "-q", "--no-ff", "--no-edit", branch)
	if s != nil {
		args = append(args, "-S")
	}
	if !r.clock.IsZero() {
		d := r.clock.Format(time.RFC3339)
		env = append(env, "GIT_AUTHOR_DATE="+d, "GIT_COMMITTER_DATE="+d)
		r.clock = r.clock.Add(time.Minute)
	}
	r.run(env, args...)
	return r.Head()
}

// CatCommit returns the raw commit object of rev.
func (r *Repo) CatCommit(rev string) string {
	r.t.Helper()
	cmd := r.gitCmd(nil, "cat-file", "commit", rev)
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
	cmd := r.gitCmd(nil, "hash-object", "-t", "commit", "-w", "--stdin")
	cmd.Stdin = strings.NewReader(raw)
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("git hash-object: %v", err)
	}
	id := strings.TrimSpace(string(out))
	r.Git("reset", "-q", "--hard", id)
	return id
}

// Reset moves the current branch and work tree to rev, as a force-push
// of an older commit would.
func (r *Repo) Reset(rev string) {
	r.t.Helper()
	r.Git("reset", "-q", "--hard", rev)
}

// Publish force-pushes HEAD to branch main of the bare repository at bare,
// creating it on first use, as pushing to a forge would. It returns bare.
func (r *Repo) Publish(bare string) string {
	r.t.Helper()
	if _, err := os.Stat(bare); os.IsNotExist(err) {
		cmd := exec.Command("git", "init", "-q", "--bare", "-b", "main", bare)
		if out, err := cmd.CombinedOutput(); err != nil {
			r.t.Fatalf("git init --bare %s: %v\n%s", bare, err, out)
		}
	}
	r.Git("push", "-q", "--force", bare, "HEAD:refs/heads/main")
	return bare
}

// ConfigureSigner writes s into the repository's own git config as its
// signing key, as a user's setup would, for commands that sign with
// "the user's git setup" (nodewright approve). Env returns what else the
// signer needs in the environment (GNUPGHOME for gpg).
func (r *Repo) ConfigureSigner(s Signer) {
	r.t.Helper()
	cfg := s.GitConfig()
	for i := 0; i+1 < len(cfg); i += 2 {
		key, value, _ := strings.Cut(cfg[i+1], "=")
		r.Git("config", key, value)
	}
	r.Git("config", "user.name", "Nodewright Test")
	r.Git("config", "user.email", "test@example.test")
}
