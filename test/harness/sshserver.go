package harness

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// GitSSHServer serves repositories over SSH on loopback the way a forge
// does: it accepts the given client keys and runs the real
// git-upload-pack and git-receive-pack for exec requests.
type GitSSHServer struct {
	// Addr is host:port.
	Addr string
	// KnownHosts is a known_hosts file naming the server's host key.
	KnownHosts string
}

// URL returns the ssh:// address of the repository name below the root.
func (s *GitSSHServer) URL(name string) string { return "ssh://git@" + s.Addr + "/" + name }

// ServeGitSSH serves every repository below root to clients holding one of
// keys, until the test ends.
func ServeGitSSH(t TB, root string, keys ...*SSHKey) *GitSSHServer {
	t.Helper()
	allowed := map[string]bool{}
	for _, k := range keys {
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.AuthorizedKey))
		if err != nil {
			t.Fatalf("client key: %v", err)
		}
		allowed[string(pub.Marshal())] = true
	}
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("host key: %v", err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatalf("host key: %v", err)
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if allowed[string(key.Marshal())] {
				return nil, nil
			}
			return nil, fmt.Errorf("key not allowed")
		},
	}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveSSHConn(conn, cfg, root)
			}()
		}
	}()
	addr := ln.Addr().String()
	host, port, _ := net.SplitHostPort(addr)
	known := filepath.Join(t.TempDir(), "known_hosts")
	line := fmt.Sprintf("[%s]:%s %s", host, port, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostSigner.PublicKey()))))
	writeFile(t, known, line+"\n", 0o600)
	return &GitSSHServer{Addr: addr, KnownHosts: known}
}

func serveSSHConn(conn net.Conn, cfg *ssh.ServerConfig, root string) {
	defer conn.Close()
	_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, requests, err := nc.Accept()
		if err != nil {
			return
		}
		go serveSession(ch, requests, root)
	}
}

func serveSession(ch ssh.Channel, requests <-chan *ssh.Request, root string) {
	defer ch.Close()
	for req := range requests {
		if req.Type != "exec" || len(req.Payload) < 4 {
			_ = req.Reply(req.Type == "env", nil)
			continue
		}
		command := string(req.Payload[4:])
		verb, arg, _ := strings.Cut(command, " ")
		if verb != "git-upload-pack" && verb != "git-receive-pack" {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		repo := filepath.Join(root, filepath.Clean("/"+strings.Trim(arg, "'")))
		cmd := exec.Command(verb, repo)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
		status := uint32(0)
		if err := cmd.Run(); err != nil {
			status = 1
		}
		var payload [4]byte
		binary.BigEndian.PutUint32(payload[:], status)
		_, _ = ch.SendRequest("exit-status", false, payload[:])
		return
	}
}
