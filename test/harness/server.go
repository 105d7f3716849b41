package harness

import (
	"encoding/pem"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
)

// GitHTTPServer is the real git http-backend behind net/http/cgi on a
// loopback address: smart HTTP as a forge serves it.
type GitHTTPServer struct {
	// URL is the base address; a repository at <root>/<name> is served at
	// URL + "/" + name.
	URL string
	// CAPEM is the server's certificate in PEM for an HTTPS server.
	CAPEM []byte
}

// ServeGit serves every repository below root over smart HTTP until the
// test ends. Pushes are allowed, so status-branch writers can use it too.
func ServeGit(t TB, root string) *GitHTTPServer {
	t.Helper()
	srv := httptest.NewServer(gitHandler(t, root))
	t.Cleanup(srv.Close)
	return &GitHTTPServer{URL: srv.URL}
}

// ServeGitTLS is ServeGit over HTTPS with a throwaway certificate; CAPEM
// is the certificate to trust.
func ServeGitTLS(t TB, root string) *GitHTTPServer {
	t.Helper()
	srv := httptest.NewTLSServer(gitHandler(t, root))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return &GitHTTPServer{URL: srv.URL, CAPEM: ca}
}

func gitHandler(t TB, root string) http.Handler {
	t.Helper()
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	handler := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Root: "/",
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_CONFIG_COUNT=2",
			"GIT_CONFIG_KEY_0=http.receivepack", "GIT_CONFIG_VALUE_0=true",
			"GIT_CONFIG_KEY_1=safe.directory", "GIT_CONFIG_VALUE_1=*",
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// http-backend needs the remote user for pushes.
		req.Header.Set("Remote-User", "nodewright-test")
		handler.ServeHTTP(w, req)
	})
}
