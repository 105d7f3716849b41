package sandbox

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Repo is a git working copy driven by the real git CLI, with a neutral
// identity and no system or global git configuration.
type Repo struct {
	Dir string
	// clock, when set, fixes author and committer dates; each commit
	// advances it by one minute so histories are reproducible and ordered.
	clock time.Time
}

// InitRepo makes an empty repository with branch main in dir.
func InitRepo(dir string) (*Repo, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &Repo{Dir: dir}
	if _, err := r.Git("init", "-q", "-b", "main"); err != nil {
		return nil, err
	}
	return r, nil
}

// SetClock fixes the author and committer date of the next commit to c;
// each commit after it is one minute later.
func (r *Repo) SetClock(c time.Time) { r.clock = c }

// Cmd prepares a git command in the work tree with a neutral identity and
// extraEnv added to the environment.
func (r *Repo) Cmd(extraEnv []string, args ...string) *exec.Cmd {
	base := []string{"-c", "user.name=Nodewright Sandbox", "-c", "user.email=sandbox@example.test",
		"-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", "-c", "init.defaultBranch=main"}
	cmd := exec.Command("git", append(base, args...)...)
	cmd.Dir = r.Dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "LC_ALL=C")
	cmd.Env = append(cmd.Env, extraEnv...)
	return cmd
}

// Git runs git with args and returns its trimmed standard output.
func (r *Repo) Git(args ...string) (string, error) {
	return r.Run(nil, nil, args...)
}

// Run runs git with args, stdin (nil for none) and extraEnv, and returns
// its trimmed standard output; a failure's error holds git's standard
// error.
func (r *Repo) Run(stdin io.Reader, extraEnv []string, args ...string) (string, error) {
	cmd := r.Cmd(extraEnv, args...)
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// Write writes content to path (relative to the work tree).
func (r *Repo) Write(path, content string) error {
	return writeFile(filepath.Join(r.Dir, path), content, 0o644)
}

// Remove deletes path from the work tree.
func (r *Repo) Remove(path string) error {
	return os.RemoveAll(filepath.Join(r.Dir, path))
}

// signed returns the git arguments and environment that make a commit
// signed by s (unsigned when s is nil) at the repository's clock.
func (r *Repo) signed(s Signer) (args, env []string) {
	if s != nil {
		args = append(args, s.GitConfig()...)
		env = append(env, s.Env()...)
	}
	if !r.clock.IsZero() {
		d := r.clock.Format(time.RFC3339)
		env = append(env, "GIT_AUTHOR_DATE="+d, "GIT_COMMITTER_DATE="+d)
		r.clock = r.clock.Add(time.Minute)
	}
	return args, env
}

// Commit stages everything and commits it with message msg, signed by s
// (unsigned when s is nil). Empty commits are allowed. It returns the new
// commit id.
func (r *Repo) Commit(msg string, s Signer) (string, error) {
	if _, err := r.Git("add", "-A"); err != nil {
		return "", err
	}
	args, env := r.signed(s)
	args = append(args, "commit", "-q", "--allow-empty", "-m", msg)
	if s != nil {
		args = append(args, "-S")
	}
	if _, err := r.Run(nil, env, args...); err != nil {
		return "", err
	}
	return r.Head()
}

// Merge merges branch into the current branch with a merge commit signed
// by s (unsigned when s is nil) and returns its id.
func (r *Repo) Merge(branch string, s Signer) (string, error) {
	args, env := r.signed(s)
	args = append(args, "merge", "-q", "--no-ff", "--no-edit", branch)
	if s != nil {
		args = append(args, "-S")
	}
	if _, err := r.Run(nil, env, args...); err != nil {
		return "", err
	}
	return r.Head()
}

// Approve makes an empty commit signed by s approving each path at its
// current blob id ("Nodewright-Approve: <path>@<blob>") and returns its id.
func (r *Repo) Approve(s Signer, paths ...string) (string, error) {
	var b strings.Builder
	b.WriteString("Approve\n\n")
	for _, p := range paths {
		blob, err := r.BlobID("HEAD", p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "Nodewright-Approve: %s@%s\n", p, blob)
	}
	return r.Commit(b.String(), s)
}

// Head returns the id of HEAD.
func (r *Repo) Head() (string, error) { return r.Git("rev-parse", "HEAD") }

// BlobID returns the blob id of path at rev.
func (r *Repo) BlobID(rev, path string) (string, error) { return r.Git("rev-parse", rev+":"+path) }

// Reset moves the current branch and work tree to rev, as a force-push
// of an older commit would.
func (r *Repo) Reset(rev string) error {
	_, err := r.Git("reset", "-q", "--hard", rev)
	return err
}

// Publish force-pushes HEAD to branch main of the bare repository at bare,
// creating it on first use, as pushing to a forge would.
func (r *Repo) Publish(bare string) error {
	if _, err := os.Stat(bare); os.IsNotExist(err) {
		if out, err := exec.Command("git", "init", "-q", "--bare", "-b", "main", bare).CombinedOutput(); err != nil {
			return fmt.Errorf("git init --bare %s: %w\n%s", bare, err, out)
		}
	}
	_, err := r.Git("push", "-q", "--force", bare, "HEAD:refs/heads/main")
	return err
}

// ConfigureSigner writes s into the repository's own git config as its
// signing key, as a user's setup would, for commands that sign with "the
// user's git setup" (nodewright approve). s.Env() is what else the signer
// needs in the environment (GNUPGHOME for gpg).
func (r *Repo) ConfigureSigner(s Signer) error {
	cfg := s.GitConfig()
	for i := 0; i+1 < len(cfg); i += 2 {
		key, value, _ := strings.Cut(cfg[i+1], "=")
		if _, err := r.Git("config", key, value); err != nil {
			return err
		}
	}
	if _, err := r.Git("config", "user.name", "Nodewright Sandbox"); err != nil {
		return err
	}
	_, err := r.Git("config", "user.email", "sandbox@example.test")
	return err
}
