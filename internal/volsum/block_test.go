package volsum

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// sparseFile makes a sparse file of size bytes with data written at each
// offset of marks.
func sparseFile(t testing.TB, size int64, marks map[int64]string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(p)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Truncate(size))
	for off, s := range marks {
		_, err := f.WriteAt([]byte(s), off)
		require.NoError(t, err)
	}
	return p
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func TestBlockFiles(t *testing.T) {
	const size = 3<<20 + 512 // not a whole number of buffers
	marks := map[int64]string{0: "boot", 1 << 20: "data", size - 4: "tail"}
	a, b := sparseFile(t, size, marks), sparseFile(t, size, marks)

	d, err := BlockDigest(context.Background(), a, Options{})
	require.NoError(t, err)
	assert.Equal(t, Digest{Path: a, SHA256: sha256File(t, a), Size: size}, d, "the digest is sha256sum's")

	var last, calls int64
	r, err := Compare(context.Background(), Block, a, b, Options{Progress: func(done, total int64) {
		assert.EqualValues(t, 2*size, total)
		assert.Greater(t, done, last)
		last = done
		calls++
	}})
	require.NoError(t, err)
	assert.True(t, r.Match(), r.Summary())
	assert.Equal(t, d.SHA256, r.Target.SHA256)
	assert.EqualValues(t, 2*size, last, "progress reaches the total")
	assert.EqualValues(t, 2*4, calls, "one report per 1 MiB buffer on each side")

	changed := sparseFile(t, size, map[int64]string{0: "boot", 1 << 20: "dati", size - 4: "tail"})
	r, err = Compare(context.Background(), Block, a, changed, Options{})
	require.NoError(t, err)
	assert.Equal(t, Mismatch, r.Verdict)
	assert.Nil(t, r.FirstDifference)
	assert.Contains(t, r.Summary(), "differ")

	// Zeros beyond the end: the same bytes as far as they go, another size.
	longer := sparseFile(t, size+512, marks)
	r, err = Compare(context.Background(), Block, a, longer, Options{})
	require.NoError(t, err)
	assert.Equal(t, Mismatch, r.Verdict)
	assert.EqualValues(t, size+512, r.Target.Size)
}

func TestBlockErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := BlockDigest(context.Background(), dir, Options{})
	require.ErrorContains(t, err, "is a directory, not a block device (a mounted volume is read with mode filesystem)")
	assert.Contains(t, err.Error(), dir)

	missing := filepath.Join(dir, "nope")
	_, err = Compare(context.Background(), Block, missing, sparseFile(t, 10, nil), Options{})
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), missing)

	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, unix.Mkfifo(fifo, 0o600))
	// Opening a fifo for reading blocks until a writer comes: hold one.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	require.NoError(t, err)
	defer w.Close()
	_, err = BlockDigest(context.Background(), fifo, Options{})
	require.ErrorContains(t, err, "is a fifo, not a block device or a regular file")
}

func TestBlockCancelled(t *testing.T) {
	a, b := sparseFile(t, 8<<20, nil), sparseFile(t, 8<<20, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := Compare(ctx, Block, a, b, Options{Progress: func(done, _ int64) {
		if done >= 2<<20 {
			cancel()
		}
	}})
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "stopped after")
}

// loopDevice attaches a loop device over file, read-only, and detaches it
// when the test ends.
func loopDevice(t *testing.T, file string) string {
	t.Helper()
	out, err := exec.Command("losetup", "--find", "--show", "--read-only", file).CombinedOutput()
	if err != nil {
		t.Skipf("losetup cannot attach a loop device here: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup --detach %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

func TestBlockLoopDevices(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("attaching loop devices needs root")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("losetup (util-linux) is not installed")
	}
	const size = 16 << 20
	marks := map[int64]string{4096: "superblock", 9 << 20: "guest data"}
	src := loopDevice(t, sparseFile(t, size, marks))
	same := loopDevice(t, sparseFile(t, size, marks))
	other := loopDevice(t, sparseFile(t, size, map[int64]string{4096: "superblock", 9 << 20: "guest date"}))

	var st unix.Stat_t
	require.NoError(t, unix.Stat(src, &st))
	require.Equal(t, uint32(unix.S_IFBLK), st.Mode&unix.S_IFMT, "%s is a block device", src)

	r, err := Compare(context.Background(), Block, src, same, Options{})
	require.NoError(t, err)
	assert.True(t, r.Match(), r.Summary())
	assert.EqualValues(t, size, r.Source.Size, "the size comes from BLKGETSIZE64")
	assert.Equal(t, sha256File(t, src), r.Source.SHA256, "the device's digest is sha256sum's")

	r, err = Compare(context.Background(), Block, src, other, Options{})
	require.NoError(t, err)
	assert.Equal(t, Mismatch, r.Verdict)
	assert.Equal(t, r.Source.Size, r.Target.Size)
	assert.NotEqual(t, r.Source.SHA256, r.Target.SHA256)
}

// BenchmarkBlockDigest digests a 256 MiB file (written, not sparse, so
// that both readers read the page cache and not zeros the file system
// makes up) with BlockDigest and with the sha256sum CLI in the same run.
func BenchmarkBlockDigest(b *testing.B) {
	const size = 256 << 20
	p := filepath.Join(b.TempDir(), "disk.img")
	data := bytes.Repeat([]byte("nodewright volume checksum bench "), size/32)
	require.NoError(b, os.WriteFile(p, data[:size], 0o600))
	want := sha256.Sum256(data[:size])
	data = nil

	var ours float64
	b.Run("volsum", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			d, err := BlockDigest(context.Background(), p, Options{})
			require.NoError(b, err)
			require.Equal(b, hex.EncodeToString(want[:]), d.SHA256)
		}
		ours = float64(size) * float64(b.N) / b.Elapsed().Seconds() / 1e6
		b.ReportMetric(ours, "MB/s")
	})
	b.Run("sha256sum", func(b *testing.B) {
		if _, err := exec.LookPath("sha256sum"); err != nil {
			b.Skip("sha256sum (coreutils) is not installed")
		}
		b.SetBytes(size)
		for b.Loop() {
			out, err := exec.Command("sha256sum", p).Output()
			require.NoError(b, err)
			require.True(b, strings.HasPrefix(string(out), hex.EncodeToString(want[:])))
		}
		theirs := float64(size) * float64(b.N) / b.Elapsed().Seconds() / 1e6
		b.ReportMetric(theirs, "MB/s")
		if ours > 0 {
			b.ReportMetric(ours/theirs, "volsum/sha256sum")
		}
	})
}
