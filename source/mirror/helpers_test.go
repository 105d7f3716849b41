package mirror

import (
	"bytes"
	"io"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/require"
)

// gitEnv is the environment for the git CLI in tests: no system or user
// configuration, no prompts, a fixed identity.
func gitEnv() []string {
	return append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=x", "GIT_AUTHOR_EMAIL=x@example.test",
		"GIT_COMMITTER_NAME=x", "GIT_COMMITTER_EMAIL=x@example.test",
	)
}

// gitArgs puts the settings every test invocation needs before args.
func gitArgs(args ...string) []string {
	return append([]string{
		"-c", "user.name=x", "-c", "user.email=x@example.test",
		"-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false",
		"-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always",
	}, args...)
}

// runGit runs the git CLI in dir and returns its trimmed standard output.
func runGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", gitArgs(args...)...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "git %s: %s", strings.Join(args, " "), stderr.String())
	return strings.TrimSpace(string(out))
}

// sourceRepo is a working repository made with the git CLI.
type sourceRepo struct {
	t   testing.TB
	dir string
}

// newSourceRepo makes an empty working repository on branch main.
func newSourceRepo(t testing.TB) *sourceRepo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fleet")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	runGit(t, dir, "init", "--quiet", "-b", "main")
	return &sourceRepo{t: t, dir: dir}
}

// commit writes files (path → content) and commits them with msg.
func (r *sourceRepo) commit(msg string, files map[string]string) plumbing.Hash {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.dir, filepath.FromSlash(name))
		require.NoError(r.t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(r.t, os.WriteFile(p, []byte(content), 0o644))
	}
	runGit(r.t, r.dir, "add", "-A")
	runGit(r.t, r.dir, "commit", "--quiet", "--allow-empty", "-m", msg)
	return r.head()
}

// head returns the commit main points to.
func (r *sourceRepo) head() plumbing.Hash {
	r.t.Helper()
	return plumbing.NewHash(runGit(r.t, r.dir, "rev-parse", "refs/heads/main"))
}

// git runs the git CLI in the repository.
func (r *sourceRepo) git(args ...string) string {
	r.t.Helper()
	return runGit(r.t, r.dir, args...)
}

var (
	execPathOnce sync.Once
	execPath     string
	execPathErr  error
)

// gitHTTPBackend returns the path of the git http-backend program.
func gitHTTPBackend(t testing.TB) string {
	t.Helper()
	execPathOnce.Do(func() {
		var out []byte
		out, execPathErr = exec.Command("git", "--exec-path").Output()
		execPath = strings.TrimSpace(string(out))
	})
	require.NoError(t, execPathErr, "git --exec-path")
	backend := filepath.Join(execPath, "git-http-backend")
	_, err := os.Stat(backend)
	require.NoError(t, err, "git http-backend")
	return backend
}

// serveGit serves the repositories under root over smart HTTP with the real
// git http-backend on loopback and returns the server's base URL.
func serveGit(t testing.TB, root string) string {
	t.Helper()
	srv := httptest.NewServer(&cgi.Handler{
		Path:   gitHTTPBackend(t),
		Root:   "/",
		Stderr: io.Discard, // "not a git repository" and the like; the client reports them
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=" + os.DevNull,
		},
	})
	t.Cleanup(srv.Close)
	return srv.URL
}

// openMirror opens a fresh mirror in a temporary directory.
func openMirror(t testing.TB) *Mirror {
	t.Helper()
	m, err := Open(filepath.Join(t.TempDir(), "mirror"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// packFiles lists the pack files of the mirror.
func packFiles(t testing.TB, m *Mirror) []string {
	t.Helper()
	packs, err := filepath.Glob(filepath.Join(m.packDir(), "*.pack"))
	require.NoError(t, err)
	return packs
}
