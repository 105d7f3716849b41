package volsum

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	sumA = strings.Repeat("a", 64)
	sumB = strings.Repeat("b", 64)
)

func TestParseResult(t *testing.T) {
	ok := Result{Mode: Block, Verdict: Match, Source: Digest{Path: "/dev/src", SHA256: sumA, Size: 10}, Target: Digest{Path: "/dev/dst", SHA256: sumA, Size: 10}}
	data, err := ok.Marshal(0)
	require.NoError(t, err)
	got, err := ParseResult(data)
	require.NoError(t, err)
	assert.Equal(t, ok, got)
	assert.True(t, got.Match())

	cases := []struct {
		name, json, err string
	}{
		{"not json", `match`, "invalid character"},
		{"unknown field", `{"mode":"block","verdict":"match","extra":1}`, "unknown field"},
		{"two objects", `{"mode":"block","verdict":"error","error":"x"} {}`, "data after"},
		{"mode", `{"mode":"tape","verdict":"error","error":"x"}`, `mode "tape"`},
		{"verdict", `{"mode":"block","verdict":"fine"}`, `verdict "fine"`},
		{"error without message", `{"mode":"block","verdict":"error"}`, "without an error"},
		{"match that differs", `{"mode":"block","verdict":"match","source":{"path":"a","sha256":"` + sumA + `","size":1},"target":{"path":"b","sha256":"` + sumB + `","size":1}}`, "disagrees"},
		{"match of other sizes", `{"mode":"block","verdict":"match","source":{"path":"a","sha256":"` + sumA + `","size":1},"target":{"path":"b","sha256":"` + sumA + `","size":2}}`, "disagrees"},
		{"mismatch that matches", `{"mode":"block","verdict":"mismatch","source":{"path":"a","sha256":"` + sumA + `","size":1},"target":{"path":"b","sha256":"` + sumA + `","size":1}}`, "disagrees"},
		{"short digest", `{"mode":"block","verdict":"match","source":{"path":"a","sha256":"abc"},"target":{"path":"b","sha256":"abc"}}`, "not 64"},
		{"negative size", `{"mode":"block","verdict":"match","source":{"path":"a","sha256":"` + sumA + `","size":-1},"target":{"path":"b","sha256":"` + sumA + `","size":-1}}`, "negative"},
		{"block difference", `{"mode":"block","verdict":"mismatch","source":{"path":"a","sha256":"` + sumA + `"},"target":{"path":"b","sha256":"` + sumB + `"},"firstDifference":{"path":"x"}}`, "block mode"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseResult([]byte(tc.json))
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestMarshalLimit(t *testing.T) {
	long := strings.Repeat("é/", 3000)
	r := Result{Mode: Filesystem, Verdict: Mismatch,
		Source:          Digest{Path: "/src", SHA256: sumA, Size: 1, Entries: 2},
		Target:          Digest{Path: "/dst", SHA256: sumB, Size: 1, Entries: 2},
		FirstDifference: &Difference{Path: long, Source: "file 0644 " + long, Target: "absent"}}
	data, err := r.Marshal(4096)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(data), 4096)
	got, err := ParseResult(data)
	require.NoError(t, err)
	assert.True(t, got.Truncated)
	assert.Equal(t, r.Source, got.Source, "digests are never cut")
	assert.Equal(t, r.Target, got.Target)
	assert.True(t, strings.HasSuffix(got.FirstDifference.Path, "..."))
	assert.True(t, strings.HasPrefix(long, strings.TrimSuffix(got.FirstDifference.Path, "...")))
	assert.True(t, utf8.ValidString(got.FirstDifference.Path))

	short, err := r.Marshal(0)
	require.NoError(t, err)
	assert.Greater(t, len(short), 4096, "no limit, nothing cut")
	_, err = r.Marshal(100)
	require.ErrorContains(t, err, "does not fit in 100 bytes")
}

func FuzzParseResult(f *testing.F) {
	f.Add([]byte(`{"mode":"block","verdict":"match","source":{"path":"a","sha256":"` + sumA + `","size":1},"target":{"path":"b","sha256":"` + sumA + `","size":1}}`))
	f.Add([]byte(`{"mode":"filesystem","verdict":"mismatch","source":{"path":"a","sha256":"` + sumA + `","entries":3},"target":{"path":"b","sha256":"` + sumB + `","entries":3},"firstDifference":{"path":"x/y","source":"file","target":"absent"},"truncated":true}`))
	f.Add([]byte(`{"mode":"block","verdict":"error","error":"block volume /dev/x: no such file"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseResult(data)
		if err != nil {
			return
		}
		// What is accepted says the same thing once written again and
		// fits the termination message as Marshal writes it.
		again, err := r.Marshal(4096)
		if err != nil {
			t.Fatalf("accepted %q, but cannot write it in 4096 bytes: %v", data, err)
		}
		back, err := ParseResult(again)
		if err != nil {
			t.Fatalf("accepted %q, refused its rewrite %q: %v", data, again, err)
		}
		if back.Verdict != r.Verdict || back.Match() != r.Match() || back.Source.SHA256 != r.Source.SHA256 || back.Target.SHA256 != r.Target.SHA256 {
			t.Fatalf("rewrite changed the result: %+v to %+v", r, back)
		}
		if !back.Truncated {
			var a, b any
			_ = json.Unmarshal(mustJSON(t, r), &a)
			_ = json.Unmarshal(again, &b)
			assert.Equal(t, a, b)
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func FuzzParseMode(f *testing.F) {
	for _, s := range []string{"block", "filesystem", "Block", "", "fs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMode(s)
		if err != nil {
			assert.LessOrEqual(t, len(err.Error()), 140, "an error quotes a bounded part of the value")
			return
		}
		assert.Equal(t, s, string(m))
		assert.Contains(t, []Mode{Block, Filesystem}, m)
	})
}
