package harness

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// History is a long signed history built for benchmarks.
type History struct {
	// Dir is the repository (a normal, non-bare one with no work tree
	// checked out).
	Dir string
	// Commits are the commit ids, oldest first.
	Commits []string
}

// SecretEntity exports the key's secret part from gpg and reads it, so a
// benchmark can sign thousands of commits without a gpg process each. The
// signatures are the same OpenPGP signatures gpg makes with that key.
func (k *GPGKey) SecretEntity(t TB) *openpgp.Entity {
	t.Helper()
	armored := k.gpg(t, "--armor", "--export-secret-keys", k.Fingerprint)
	ents, err := openpgp.ReadArmoredKeyRing(strings.NewReader(armored))
	if err != nil || len(ents) != 1 {
		t.Fatalf("read exported secret key: %v (%d keys)", err, len(ents))
	}
	return ents[0]
}

// SignedHistory writes a repository at dir whose first commit holds
// policyYAML as .nodewright/trust.yaml and whose n commits each change one
// file, every one signed by signer (an entity with its secret key). The
// objects go into one pack indexed by the real git index-pack.
func SignedHistory(t TB, dir string, n int, policyYAML string, signer *openpgp.Entity) *History {
	t.Helper()
	st := memory.NewStorage()
	put := func(typ plumbing.ObjectType, data []byte) plumbing.Hash {
		obj := st.NewEncodedObject()
		obj.SetType(typ)
		obj.SetSize(int64(len(data)))
		w, _ := obj.Writer()
		_, _ = w.Write(data)
		_ = w.Close()
		h, err := st.SetEncodedObject(obj)
		if err != nil {
			t.Fatalf("store object: %v", err)
		}
		return h
	}
	tree := func(entries ...object.TreeEntry) plumbing.Hash {
		var b bytes.Buffer
		for _, e := range entries {
			fmt.Fprintf(&b, "%o %s\x00", e.Mode, e.Name)
			b.Write(e.Hash[:])
		}
		return put(plumbing.TreeObject, b.Bytes())
	}
	trustDir := tree(object.TreeEntry{Name: "trust.yaml", Mode: 0o100644, Hash: put(plumbing.BlobObject, []byte(policyYAML))})
	h := &History{Dir: dir}
	var parent plumbing.Hash
	start := time.Now().Add(-time.Duration(n+1) * time.Minute).Unix()
	var all []plumbing.Hash
	for i := 0; i < n; i++ {
		site := fmt.Sprintf("edge-%04d.yaml", i%500)
		sites := tree(object.TreeEntry{Name: site, Mode: 0o100644, Hash: put(plumbing.BlobObject, []byte(fmt.Sprintf("change: %d\n", i)))})
		root := tree(
			object.TreeEntry{Name: ".nodewright", Mode: 0o040000, Hash: trustDir},
			object.TreeEntry{Name: "sites", Mode: 0o040000, Hash: sites},
		)
		var b strings.Builder
		fmt.Fprintf(&b, "tree %s\n", root)
		if !parent.IsZero() {
			fmt.Fprintf(&b, "parent %s\n", parent)
		}
		ts := start + int64(i)*60
		fmt.Fprintf(&b, "author Bench <bench@example.test> %d +0000\ncommitter Bench <bench@example.test> %d +0000\n", ts, ts)
		headers := b.String()
		msg := fmt.Sprintf("\nChange %d\n", i)
		var sig bytes.Buffer
		if err := openpgp.ArmoredDetachSign(&sig, signer, strings.NewReader(headers+msg), nil); err != nil {
			t.Fatalf("sign: %v", err)
		}
		gpgsig := "gpgsig " + strings.ReplaceAll(strings.TrimRight(sig.String(), "\n"), "\n", "\n ") + "\n"
		parent = put(plumbing.CommitObject, []byte(headers+gpgsig+msg))
		h.Commits = append(h.Commits, parent.String())
	}
	for hash := range st.Objects {
		all = append(all, hash)
	}
	r := InitRepo(t, dir)
	packDir := filepath.Join(dir, ".git", "objects", "pack")
	f, err := os.CreateTemp(packDir, "bench-*.pack")
	if err != nil {
		t.Fatalf("pack: %v", err)
	}
	sum, err := packfile.NewEncoder(f, st, false).Encode(all, 0)
	if err != nil {
		t.Fatalf("encode pack: %v", err)
	}
	f.Close()
	packPath := filepath.Join(packDir, "pack-"+sum.String()+".pack")
	if err := os.Rename(f.Name(), packPath); err != nil {
		t.Fatalf("pack: %v", err)
	}
	cmd := exec.Command("git", "index-pack", packPath)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git index-pack: %v\n%s", err, out)
	}
	r.Git("update-ref", "refs/heads/main", parent.String())
	return h
}
