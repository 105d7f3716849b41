package mirror

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/source/reason"
)

// bundleFixture is a source repository with two bundles: full holds main
// at old; incremental holds old..main where main is one commit further and
// changes one line of a large file, so its pack is thin.
type bundleFixture struct {
	src         *sourceRepo
	old, head   plumbing.Hash
	full        string
	incremental string
	dir         string
}

func bigFile(changed string) string {
	var b strings.Builder
	for i := range 400 {
		if i == 200 {
			b.WriteString(changed + "\n")
			continue
		}
		fmt.Fprintf(&b, "line %d of a configuration file that is long enough to delta well\n", i)
	}
	return b.String()
}

func newBundleFixture(t testing.TB) *bundleFixture {
	t.Helper()
	src := newSourceRepo(t)
	dir := t.TempDir()
	fx := &bundleFixture{src: src, dir: dir}
	src.commit("one", map[string]string{"big.txt": bigFile("first"), "sites/a/op.yaml": "kind: X\n"})
	fx.old = src.commit("two", map[string]string{"big.txt": bigFile("second")})
	src.git("tag", "old")
	fx.full = filepath.Join(dir, "full.bundle")
	src.git("bundle", "create", "--quiet", fx.full, "main")
	fx.head = src.commit("three", map[string]string{"big.txt": bigFile("third")})
	fx.incremental = filepath.Join(dir, "incremental.bundle")
	src.git("bundle", "create", "--quiet", fx.incremental, "old..main")
	return fx
}

// write stores data as a file in the fixture's directory.
func (fx *bundleFixture) write(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(fx.dir, name)
	require.NoError(t, os.WriteFile(p, data, 0o644))
	return p
}

// requireBundleInvalid checks that err is a BundleInvalid refusal whose
// message names the file and contains each of want.
func requireBundleInvalid(t *testing.T, err error, path string, want ...string) {
	t.Helper()
	require.Error(t, err)
	var re *reason.Error
	require.True(t, errors.As(err, &re), "want *reason.Error, got %T: %v", err, err)
	assert.Equal(t, reason.BundleInvalid, re.Code)
	assert.Contains(t, re.Message, "bundle "+path+": ")
	for _, w := range want {
		assert.Contains(t, re.Message, w)
	}
}

func TestImportBundle(t *testing.T) {
	fx := newBundleFixture(t)
	v3 := filepath.Join(fx.dir, "v3.bundle")
	fx.src.git("bundle", "create", "--quiet", "--version=3", v3, "main")
	v3inc := filepath.Join(fx.dir, "v3inc.bundle")
	fx.src.git("bundle", "create", "--quiet", "--version=3", v3inc, "old..main")

	tests := []struct {
		name    string
		before  []string // bundles imported first
		bundle  string
		want    plumbing.Hash
		wantBig string
	}{
		{name: "full bundle", bundle: fx.full, want: fx.old, wantBig: bigFile("second")},
		{name: "incremental bundle onto its prerequisite", before: []string{fx.full}, bundle: fx.incremental, want: fx.head, wantBig: bigFile("third")},
		{name: "v3 full bundle", bundle: v3, want: fx.head, wantBig: bigFile("third")},
		{name: "v3 incremental bundle", before: []string{fx.full}, bundle: v3inc, want: fx.head, wantBig: bigFile("third")},
		{name: "same bundle twice", before: []string{fx.full}, bundle: fx.full, want: fx.old, wantBig: bigFile("second")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := openMirror(t)
			for _, b := range tt.before {
				_, err := m.ImportBundle(b, "main")
				require.NoError(t, err)
			}
			got, err := m.ImportBundle(tt.bundle, "main")
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			tip, ok, err := m.Tip("main")
			require.NoError(t, err)
			assert.True(t, ok)
			assert.Equal(t, tt.want, tip)
			assert.Equal(t, tt.wantBig, fileAt(t, m, got, "big.txt"))
			// The git CLI can read everything the import wrote.
			runGit(t, m.Dir(), "fsck", "--no-dangling", "--strict")
		})
	}
}

func TestIncrementalBundleIsThin(t *testing.T) {
	// Guards the test above: the incremental bundle must really carry
	// deltas against its prerequisite, or the fix-up path goes untested.
	fx := newBundleFixture(t)
	m := openMirror(t)
	_, err := m.ImportBundle(fx.full, "main")
	require.NoError(t, err)

	f, err := os.Open(fx.incremental)
	require.NoError(t, err)
	defer f.Close()
	h, err := readBundleHeader(f)
	require.NoError(t, err)
	fi, err := f.Stat()
	require.NoError(t, err)
	bases, err := m.thinBases(io.NewSectionReader(f, h.PackOffset, fi.Size()-h.PackOffset))
	require.NoError(t, err)
	assert.NotEmpty(t, bases)
}

func TestImportBundleRefuses(t *testing.T) {
	fx := newBundleFixture(t)
	full, err := os.ReadFile(fx.full)
	require.NoError(t, err)
	h, err := readBundleHeader(bytes.NewReader(full))
	require.NoError(t, err)
	header, pack := full[:h.PackOffset], full[h.PackOffset:]

	flipped := bytes.Clone(full)
	flipped[h.PackOffset+int64(len(pack)/2)] ^= 0xff

	wrongRef := bytes.Replace(full, []byte(fx.old.String()), []byte(strings.Repeat("1", 40)), 1)

	v3 := filepath.Join(fx.dir, "v3.bundle")
	fx.src.git("bundle", "create", "--quiet", "--version=3", v3, "main")
	v3data, err := os.ReadFile(v3)
	require.NoError(t, err)
	sha256 := bytes.Replace(v3data, []byte("@object-format=sha1"), []byte("@object-format=sha256"), 1)

	// A pack holding only the tip commit, without its tree or parents.
	commitOnly := exec.Command("git", "pack-objects", "--stdout", "-q")
	commitOnly.Dir = fx.src.dir
	commitOnly.Env = gitEnv()
	commitOnly.Stdin = strings.NewReader(fx.head.String() + "\n")
	lonePack, err := commitOnly.Output()
	require.NoError(t, err)
	lone := append([]byte("# v2 git bundle\n"+fx.head.String()+" refs/heads/main\n\n"), lonePack...)

	// A damaged object behind a checksum that matches the damage.
	rechecksum := func(b []byte, packOffset int64, at int) []byte {
		b = bytes.Clone(b)
		b[at] ^= 0x55
		sum := sha1.Sum(b[packOffset : len(b)-sha1.Size])
		copy(b[len(b)-sha1.Size:], sum[:])
		return b
	}
	inc, err := os.ReadFile(fx.incremental)
	require.NoError(t, err)
	incHeader, err := readBundleHeader(bytes.NewReader(inc))
	require.NoError(t, err)

	random := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}

	tests := []struct {
		name   string
		before string // a bundle imported first
		data   []byte
		path   string // instead of data
		want   []string
	}{
		{name: "incremental bundle into an empty mirror", path: fx.incremental,
			want: []string{"prerequisite " + fx.old.String() + " is missing from the mirror", "import the earlier bundle first"}},
		{name: "branch not in bundle", path: fx.full, want: []string{"no refs/heads/release", "refs/heads/main"}},
		{name: "truncated pack", data: full[:len(full)-10], want: []string{"pack"}},
		{name: "truncated to the header", data: header, want: []string{"truncated"}},
		{name: "truncated inside the header", data: header[:len(header)/2], want: []string{"header is truncated"}},
		{name: "damaged pack", data: flipped, want: []string{"checksum mismatch"}},
		{name: "no pack signature", data: append(bytes.Clone(header), bytes.Repeat([]byte{'x'}, 64)...), want: []string{"no pack signature"}},
		{name: "reference to an object not in the pack", data: wrongRef, want: []string{"refs/heads/main", "neither in the bundle's pack nor in the mirror"}},
		{name: "pack missing history", data: lone, want: []string{"tree", "is missing"}},
		{name: "damaged object behind a valid checksum", data: rechecksum(full, h.PackOffset, len(full)-200), want: []string{"pack"}},
		{name: "damaged object in a thin pack", before: fx.full, data: rechecksum(inc, incHeader.PackOffset, len(inc)-40), want: []string{"pack"}},
		{name: "sha256 object format", data: sha256, want: []string{`object format "sha256" is not supported`}},
		{name: "garbage", data: random, want: []string{"not a git bundle"}},
		{name: "empty file", data: []byte{}, want: []string{"not a git bundle"}},
		{name: "text file", data: []byte("apiVersion: v1\nkind: List\n"), want: []string{"not a git bundle"}},
		{name: "missing file", path: filepath.Join(fx.dir, "nope.bundle"), want: []string{"no such file"}},
		{name: "directory", path: fx.dir, want: []string{"not a regular file"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := openMirror(t)
			var tipBefore plumbing.Hash
			if tt.before != "" {
				tipBefore, err = m.ImportBundle(tt.before, "main")
				require.NoError(t, err)
			}
			path := tt.path
			if path == "" {
				path = fx.write(t, fmt.Sprintf("case%d.bundle", i), tt.data)
			}
			branch := "main"
			if tt.name == "branch not in bundle" {
				branch = "release"
			}
			_, err := m.ImportBundle(path, branch)
			requireBundleInvalid(t, err, path, tt.want...)
			tip, _, err := m.Tip(branch)
			require.NoError(t, err)
			assert.Equal(t, tipBefore, tip, "no ref moves")
			assert.Empty(t, m.tempPacks(), "no temporary pack left behind")
		})
	}
}

func TestImportBundleFailureKeepsRef(t *testing.T) {
	fx := newBundleFixture(t)
	m := openMirror(t)
	_, err := m.ImportBundle(fx.full, "main")
	require.NoError(t, err)

	inc, err := os.ReadFile(fx.incremental)
	require.NoError(t, err)
	for name, data := range map[string][]byte{
		"truncated.bundle": inc[:len(inc)-1],
		"damaged.bundle":   append(bytes.Clone(inc[:len(inc)-21]), inc[len(inc)-20:]...),
	} {
		path := fx.write(t, name, data)
		_, err := m.ImportBundle(path, "main")
		requireBundleInvalid(t, err, path)
		tip, _, err := m.Tip("main")
		require.NoError(t, err)
		assert.Equal(t, fx.old, tip, "%s moved the branch", name)
	}
}

func TestIsBundle(t *testing.T) {
	fx := newBundleFixture(t)
	v3 := filepath.Join(fx.dir, "v3.bundle")
	fx.src.git("bundle", "create", "--quiet", "--version=3", v3, "main")
	link := filepath.Join(fx.dir, "link.bundle")
	require.NoError(t, os.Symlink(fx.full, link))

	tests := []struct {
		name string
		path string
		want bool
	}{
		{"v2 bundle", fx.full, true},
		{"v3 bundle", v3, true},
		{"symlink to a bundle", link, true},
		{"working repository", fx.src.dir, false},
		{"missing file", filepath.Join(fx.dir, "missing"), false},
		{"text file", fx.write(t, "text", []byte("# v2 git bundles are great\n")), false},
		{"short file", fx.write(t, "short", []byte("# v2 git")), false},
		{"v4 header", fx.write(t, "v4", []byte("# v4 git bundle\n")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, IsBundle(tt.path))
		})
	}
}

func TestReadBundleHeader(t *testing.T) {
	a := strings.Repeat("a", 40)
	b := strings.Repeat("b", 40)
	tests := []struct {
		name    string
		in      string
		want    *bundleHeader
		wantErr string
	}{
		{
			name: "v2 with prerequisite",
			in:   "# v2 git bundle\n-" + a + " subject line\n" + b + " refs/heads/main\n\nPACK",
			want: &bundleHeader{
				Version:       2,
				Prerequisites: []bundlePrerequisite{{Hash: plumbing.NewHash(a), Comment: "subject line"}},
				References:    []bundleReference{{Hash: plumbing.NewHash(b), Name: "refs/heads/main"}},
				PackOffset:    int64(len("# v2 git bundle\n-" + a + " subject line\n" + b + " refs/heads/main\n\n")),
			},
		},
		{
			name: "v3 with capability and bare prerequisite",
			in:   "# v3 git bundle\n@object-format=sha1\n-" + a + "\n" + b + " HEAD\n" + b + " refs/heads/main\n\n",
			want: &bundleHeader{
				Version:       3,
				Prerequisites: []bundlePrerequisite{{Hash: plumbing.NewHash(a)}},
				References: []bundleReference{
					{Hash: plumbing.NewHash(b), Name: "HEAD"},
					{Hash: plumbing.NewHash(b), Name: "refs/heads/main"},
				},
				PackOffset: int64(len("# v3 git bundle\n@object-format=sha1\n-" + a + "\n" + b + " HEAD\n" + b + " refs/heads/main\n\n")),
			},
		},
		{name: "v4", in: "# v4 git bundle\n", wantErr: "unsupported bundle version"},
		{name: "capability in v2", in: "# v2 git bundle\n@object-format=sha1\n", wantErr: "capability"},
		{name: "filter capability", in: "# v3 git bundle\n@filter=blob:none\n", wantErr: "filtered"},
		{name: "unknown capability", in: "# v3 git bundle\n@frobnicate\n", wantErr: "unknown capability"},
		{name: "short object id", in: "# v2 git bundle\nabc refs/heads/main\n\n", wantErr: "40 hexadecimal"},
		{name: "non-hex object id", in: "# v2 git bundle\n" + strings.Repeat("g", 40) + " refs/heads/main\n\n", wantErr: "40 hexadecimal"},
		{name: "zero object id", in: "# v2 git bundle\n" + strings.Repeat("0", 40) + " refs/heads/main\n\n", wantErr: "all zeros"},
		{name: "bad ref name", in: "# v2 git bundle\n" + a + " refs/heads/a..b\n\n", wantErr: "not a valid reference name"},
		{name: "ref without name", in: "# v2 git bundle\n" + a + "\n\n", wantErr: "neither a reference nor a prerequisite"},
		{name: "duplicate ref", in: "# v2 git bundle\n" + a + " refs/heads/main\n" + b + " refs/heads/main\n\n", wantErr: "listed twice"},
		{name: "no references", in: "# v2 git bundle\n-" + a + "\n\n", wantErr: "no references"},
		{name: "no blank line", in: "# v2 git bundle\n" + a + " refs/heads/main\n", wantErr: "truncated"},
		{name: "no newline at all", in: "# v2 git bundle", wantErr: "not a git bundle"},
		{name: "long line", in: "# v2 git bundle\n" + a + " refs/heads/" + strings.Repeat("x", maxBundleLineBytes) + "\n\n", wantErr: "longer than"},
		{name: "huge header", in: "# v2 git bundle\n" + strings.Repeat(a+" refs/heads/main\n", maxBundleHeaderBytes/50), wantErr: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readBundleHeader(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzReadBundleHeader(f *testing.F) {
	a := strings.Repeat("a", 40)
	f.Add([]byte("# v2 git bundle\n-" + a + " x\n" + a + " refs/heads/main\n\nPACK"))
	f.Add([]byte("# v3 git bundle\n@object-format=sha1\n" + a + " refs/heads/main\n\n"))
	f.Add([]byte("# v3 git bundle\n@filter=blob:none\n"))
	f.Add([]byte("# v2 git bundle\n\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := readBundleHeader(bytes.NewReader(data))
		if err != nil {
			return
		}
		if h.PackOffset <= 0 || h.PackOffset > int64(len(data)) {
			t.Fatalf("pack offset %d outside input of %d bytes", h.PackOffset, len(data))
		}
		if data[h.PackOffset-1] != '\n' || len(h.References) == 0 {
			t.Fatalf("accepted a header without references or blank line: %q", data[:h.PackOffset])
		}
	})
}

// FuzzImportBundle feeds mutated bundles to a mirror that holds the
// incremental bundle's prerequisite; whatever the input, ImportBundle must
// return (a BundleInvalid error or a tip), never panic.
func FuzzImportBundle(f *testing.F) {
	fx := newBundleFixture(f)
	for _, p := range []string{fx.full, fx.incremental} {
		data, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := openMirror(t)
		_, err := m.ImportBundle(fx.full, "main")
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), "fuzz.bundle")
		require.NoError(t, os.WriteFile(path, data, 0o644))
		tip, err := m.ImportBundle(path, "main")
		if err != nil {
			assert.Equal(t, reason.BundleInvalid, reason.CodeOf(err), "%v", err)
			return
		}
		got, _, err := m.Tip("main")
		require.NoError(t, err)
		assert.Equal(t, tip, got)
	})
}
