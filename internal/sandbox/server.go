package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// GitServer is the real git http-backend behind net/http/cgi on a
// loopback address: smart HTTP as a forge serves it, pushes included.
type GitServer struct {
	// URL is the base address; a repository at <root>/<name> is served at
	// URL + "/" + name.
	URL string

	srv  *http.Server
	done chan error
}

// ServeGit serves every repository below root over smart HTTP on a
// loopback port until Close.
func ServeGit(root string) (*GitServer, error) {
	h, err := GitHandler(root)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("git server: %w", err)
	}
	s := &GitServer{URL: "http://" + l.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, done: make(chan error, 1)}
	go func() { s.done <- s.srv.Serve(l) }()
	return s, nil
}

// Close stops the server: it stops accepting, waits up to five seconds
// for requests in flight, then closes what is left.
func (s *GitServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	if serveErr := <-s.done; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}

// GitHandler is the git http-backend CGI handler for the repositories
// below root, with pushes allowed.
func GitHandler(root string) (http.Handler, error) {
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("git --exec-path: %w", err)
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
		req.Header.Set("Remote-User", "nodewright-sandbox")
		handler.ServeHTTP(w, req)
	}), nil
}
