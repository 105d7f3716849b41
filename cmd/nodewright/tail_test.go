package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFinish(t *testing.T) {
	data := map[string]any{"accepted": false, "n": 2}
	text := func(w io.Writer) error {
		_, err := fmt.Fprintln(w, "nothing accepted")
		return err
	}
	refused := []refusal{
		{Code: "Unsigned", Message: "commit 0123456789ab: commit is not signed"},
		{Code: "StatusInvalid", Message: "cluster alpha: line one\nline two\ttabbed"},
	}
	wantRejected := "REJECTED Unsigned: commit 0123456789ab: commit is not signed\n" +
		`REJECTED StatusInvalid: cluster alpha: line one\nline two\ttabbed` + "\n"

	cases := []struct {
		name       string
		e          ending
		wantStdout string
		wantStderr string
		wantCode   int // 0: nil error
	}{
		{
			name:       "text, accepted",
			e:          ending{Output: "text", JSON: data, Text: text},
			wantStdout: "nothing accepted\n",
		},
		{
			name:       "table is text",
			e:          ending{Output: "table", JSON: data, Text: text},
			wantStdout: "nothing accepted\n",
		},
		{
			name:       "json, accepted",
			e:          ending{Output: "json", JSON: data, Text: text},
			wantStdout: "{\n  \"accepted\": false,\n  \"n\": 2\n}\n",
		},
		{
			name:       "text, refused, multi-line message on one line",
			e:          ending{Output: "text", JSON: data, Text: text, Refusals: refused},
			wantStdout: "nothing accepted\n",
			wantStderr: wantRejected,
			wantCode:   exitRefused,
		},
		{
			name:       "json, refused, warnings after the refusals",
			e:          ending{Output: "json", JSON: []string{}, Text: text, Refusals: refused, Warnings: []string{"Stale: old\ncommit"}},
			wantStdout: "[]\n",
			wantStderr: wantRejected + `WARNING Stale: old\ncommit` + "\n",
			wantCode:   exitRefused,
		},
		{
			name:       "failed without a refusal",
			e:          ending{Output: "text", Text: text, Failed: true},
			wantStdout: "nothing accepted\n",
			wantCode:   exitRefused,
		},
		{
			name:     "no text form",
			e:        ending{Output: "text", Refusals: refused[:1]},
			wantCode: exitRefused, wantStderr: "REJECTED Unsigned: commit 0123456789ab: commit is not signed\n",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := finish(&stdout, &stderr, c.e)
			assert.Equal(t, c.wantStdout, stdout.String())
			assert.Equal(t, c.wantStderr, stderr.String())
			if c.wantCode == 0 {
				require.NoError(t, err)
				return
			}
			var ee *exitError
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, c.wantCode, ee.code)
			assert.True(t, ee.silent, "the REJECTED lines were the message")
		})
	}

	t.Run("a failed write is the error", func(t *testing.T) {
		boom := errors.New("disk full")
		err := finish(io.Discard, io.Discard, ending{Output: "text", Text: func(io.Writer) error { return boom }, Refusals: refused})
		assert.ErrorIs(t, err, boom)
	})
}
