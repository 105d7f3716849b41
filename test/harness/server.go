package harness

import (
	"encoding/pem"
	"net/http/httptest"

	"github.com/nodewright/nodewright/internal/sandbox"
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
	srv := must(sandbox.ServeGit(root))(t)
	t.Cleanup(func() { _ = srv.Close() })
	return &GitHTTPServer{URL: srv.URL}
}

// ServeGitTLS is ServeGit over HTTPS with a throwaway certificate; CAPEM
// is the certificate to trust.
func ServeGitTLS(t TB, root string) *GitHTTPServer {
	t.Helper()
	srv := httptest.NewTLSServer(must(sandbox.GitHandler(root))(t))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return &GitHTTPServer{URL: srv.URL, CAPEM: ca}
}
