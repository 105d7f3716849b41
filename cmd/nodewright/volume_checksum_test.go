package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/internal/volsum"
)

func checksumTrees(t *testing.T) (string, string) {
	t.Helper()
	src, dst := t.TempDir(), t.TempDir()
	for _, d := range []string{src, dst} {
		require.NoError(t, os.MkdirAll(filepath.Join(d, "var/lib"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(d, "var/lib/db"), []byte("rows"), 0o600))
	}
	return src, dst
}

func readTerminationLog(t *testing.T, path string) volsum.Result {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(data), 4096)
	res, err := volsum.ParseResult(data)
	require.NoError(t, err, "%s", data)
	return res
}

func TestVolumeChecksum(t *testing.T) {
	src, dst := checksumTrees(t)
	log := filepath.Join(t.TempDir(), "termination-log")

	stdout, stderr, code := nodewright(t, "volume-checksum", "--mode", "filesystem", "--source", src, "--target", dst, "-o", "json", "--termination-log", log)
	require.Equal(t, exitOK, code, stderr)
	var printed volsum.Result
	require.NoError(t, json.Unmarshal([]byte(stdout), &printed))
	assert.Equal(t, volsum.Match, printed.Verdict)
	assert.EqualValues(t, 4, printed.Source.Entries)
	assert.Equal(t, printed, readTerminationLog(t, log))

	require.NoError(t, os.WriteFile(filepath.Join(dst, "var/lib/db"), []byte("rowz"), 0o600))
	stdout, stderr, code = nodewright(t, "volume-checksum", "--mode", "filesystem", "--source", src, "--target", dst, "--termination-log", log)
	require.Equal(t, exitRefused, code, stderr)
	assert.Contains(t, stdout, `first at "var/lib/db"`)
	assert.True(t, strings.HasPrefix(stderr, "REJECTED ChecksumMismatch: "), stderr)
	res := readTerminationLog(t, log)
	assert.Equal(t, volsum.Mismatch, res.Verdict)
	require.NotNil(t, res.FirstDifference)
	assert.Equal(t, "var/lib/db", res.FirstDifference.Path)

	// Block mode over images; a directory is refused with a hint.
	img := filepath.Join(t.TempDir(), "disk.img")
	require.NoError(t, os.WriteFile(img, bytes.Repeat([]byte{7}, 5000), 0o600))
	stdout, stderr, code = nodewright(t, "volume-checksum", "--mode", "block", "--source", img, "--target", img, "--termination-log", "")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "(5000 bytes)")

	_, stderr, code = nodewright(t, "volume-checksum", "--mode", "block", "--source", img, "--target", dst, "--termination-log", log)
	require.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, dst+": is a directory")
	res = readTerminationLog(t, log)
	assert.Equal(t, volsum.Failed, res.Verdict)
	assert.Contains(t, res.Error, "is a directory")
}

func TestVolumeChecksumUsage(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(t.TempDir(), "termination-log")
	cases := []struct {
		name string
		args []string
		err  string
	}{
		{"no mode", []string{"--source", dir, "--target", dir}, "--mode is required"},
		{"bad mode", []string{"--mode", "raw", "--source", dir, "--target", dir}, `mode "raw" is not one of block, filesystem`},
		{"no source", []string{"--mode", "block", "--target", dir}, "--source is required"},
		{"no target", []string{"--mode", "block", "--source", dir}, "--target is required"},
		{"bad output", []string{"--mode", "filesystem", "--source", dir, "--target", dir, "-o", "yaml"}, `--output "yaml"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"volume-checksum", "--termination-log", log}, tc.args...), &stdout, &stderr)
			assert.Equal(t, exitUsage, code)
			assert.Contains(t, stderr.String(), tc.err)
			res := readTerminationLog(t, log)
			assert.Equal(t, volsum.Failed, res.Verdict)
			assert.Contains(t, res.Error, tc.err)
		})
	}

	var stderr bytes.Buffer
	code := run([]string{"volume-checksum", "--mode", "filesystem", "--source", dir, "--target", dir, "--termination-log", filepath.Join(dir, "no", "such", "dir")}, &bytes.Buffer{}, &stderr)
	assert.Equal(t, exitUsage, code, "a result nobody can read is no match")
	assert.Contains(t, stderr.String(), "termination log:")
}

// FuzzVolumeChecksumFlags runs the command in-process with any mode and
// output values: it never panics, exits 0 only for valid ones, and always
// leaves a termination message a reader accepts.
func FuzzVolumeChecksumFlags(f *testing.F) {
	for _, s := range [][2]string{{"filesystem", "json"}, {"block", "text"}, {"", ""}, {"Filesystem", "JSON"}, {"filesystem\x00", "json\n"}} {
		f.Add(s[0], s[1])
	}
	dir := f.TempDir()
	require.NoError(f, os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600))
	log := filepath.Join(f.TempDir(), "termination-log")
	f.Fuzz(func(t *testing.T, mode, output string) {
		var stdout, stderr bytes.Buffer
		code := run([]string{"volume-checksum", "--mode=" + mode, "--source", dir, "--target", dir, "-o=" + output, "--termination-log", log}, &stdout, &stderr)
		valid := (mode == "filesystem") && (output == "text" || output == "json")
		if valid != (code == exitOK) {
			t.Fatalf("mode %q output %q: exit %d: %s", mode, output, code, stderr.String())
		}
		if code != exitOK && code != exitUsage {
			t.Fatalf("mode %q output %q: exit %d", mode, output, code)
		}
		data, err := os.ReadFile(log)
		require.NoError(t, err)
		if _, err := volsum.ParseResult(data); err != nil {
			t.Fatalf("mode %q output %q: termination message %q: %v", mode, output, data, err)
		}
	})
}
