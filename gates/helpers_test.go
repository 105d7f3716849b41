package gates

import (
	"testing"

	"golang.org/x/crypto/ssh"
)

func sshFingerprint(t *testing.T, line string) string {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return ssh.FingerprintSHA256(pub)
}
