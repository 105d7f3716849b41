package signature

import (
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

func fingerprintOf(s *sshsig.Signature) string {
	if s.PublicKey == nil {
		return "(none)"
	}
	return ssh.FingerprintSHA256(s.PublicKey)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
