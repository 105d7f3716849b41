package audit_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewright/nodewright/reconciler/audit"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// vector is the test vector documented in doc.go.
var vector = v1.AuditRecord{
	Seq: 1, Time: metav1.NewTime(t0), Cluster: "edge-042", Site: "edge-042",
	Kind: "BondModeFlipPlan", Name: "bondflip", From: "Pending", To: "AwaitingApproval",
	Reason: "ApprovalRequired", Message: "needs 2 approvals <&>\n",
	Actor: "nodewright-reconciler", SourceCommit: "0123456789abcdef0123456789abcdef01234567",
}

const vectorHash = "cac35a43295e10ea099e24c660eec463d920009caea1ae8d91984b5345b652d8"

func TestHashVector(t *testing.T) {
	assert.Equal(t, `{"actor":"nodewright-reconciler","cluster":"edge-042","from":"Pending","kind":"BondModeFlipPlan","message":"needs 2 approvals <&>\n","name":"bondflip","prev":"","reason":"ApprovalRequired","seq":1,"site":"edge-042","sourceCommit":"0123456789abcdef0123456789abcdef01234567","time":"2025-03-01T12:00:00Z","to":"AwaitingApproval"}`,
		string(audit.Canonical(vector)))
	assert.Equal(t, vectorHash, audit.Hash(vector))
}

func TestCanonicalKeyOrder(t *testing.T) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(audit.Canonical(vector)))
	var keys []string
	_, err := dec.Token()
	require.NoError(t, err)
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v))
	}
	assert.True(t, slices.IsSorted(keys), "keys %v", keys)
	// Every field of AuditRecord except hash, and no other.
	full, err := json.Marshal(vector)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(full, &obj))
	delete(obj, "hash")
	var want []string
	for k := range obj {
		want = append(want, k)
	}
	slices.Sort(want)
	assert.Equal(t, want, keys)
}

// TestCanonicalMatchesSortedJSON cross-checks the hand-written encoder with
// encoding/json's sorted map output, which agrees with RFC 8785 for
// strings without U+2028 and U+2029.
func TestCanonicalMatchesSortedJSON(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*v1.AuditRecord)
	}{
		{"plain", func(*v1.AuditRecord) {}},
		{"control characters", func(r *v1.AuditRecord) { r.Message = "a\x00b\x01\x1f\b\f\t\r\n\"\\\x7f" }},
		{"html characters", func(r *v1.AuditRecord) { r.Reason = "<script>&amp;</script>" }},
		{"non-ASCII", func(r *v1.AuditRecord) { r.Actor = "zoë 😀 日本" }},
		{"zero time", func(r *v1.AuditRecord) { r.Time = metav1.Time{} }},
		{"large seq", func(r *v1.AuditRecord) { r.Seq = 1<<62 + 12345 }},
		{"empty strings", func(r *v1.AuditRecord) { *r = v1.AuditRecord{Seq: 3} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := vector
			tt.mod(&r)
			full, err := json.Marshal(r)
			require.NoError(t, err)
			var m map[string]any
			dec := json.NewDecoder(bytes.NewReader(full))
			dec.UseNumber()
			require.NoError(t, dec.Decode(&m))
			delete(m, "hash")
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			require.NoError(t, enc.Encode(m))
			assert.Equal(t, strings.TrimSuffix(buf.String(), "\n"), string(audit.Canonical(r)))
		})
	}
}

func TestHash(t *testing.T) {
	base := audit.Hash(vector)
	tests := []struct {
		name string
		mod  func(*v1.AuditRecord)
		same bool
	}{
		{"hash field is ignored", func(r *v1.AuditRecord) { r.Hash = "anything" }, true},
		{"sub-second time is dropped", func(r *v1.AuditRecord) { r.Time = metav1.NewTime(t0.Add(999 * time.Millisecond)) }, true},
		{"time zone is normalised", func(r *v1.AuditRecord) {
			r.Time = metav1.NewTime(t0.In(time.FixedZone("CET", 3600)))
		}, true},
		{"seq", func(r *v1.AuditRecord) { r.Seq = 2 }, false},
		{"time", func(r *v1.AuditRecord) { r.Time = metav1.NewTime(t0.Add(time.Second)) }, false},
		{"cluster", func(r *v1.AuditRecord) { r.Cluster = "edge-043" }, false},
		{"site", func(r *v1.AuditRecord) { r.Site = "edge-043" }, false},
		{"kind", func(r *v1.AuditRecord) { r.Kind = "ReplicationUpgrade" }, false},
		{"name", func(r *v1.AuditRecord) { r.Name = "other" }, false},
		{"from", func(r *v1.AuditRecord) { r.From = "Preflight" }, false},
		{"to", func(r *v1.AuditRecord) { r.To = "Succeeded" }, false},
		{"reason", func(r *v1.AuditRecord) { r.Reason = "Approved" }, false},
		{"message", func(r *v1.AuditRecord) { r.Message += "." }, false},
		{"actor", func(r *v1.AuditRecord) { r.Actor = "alice" }, false},
		{"sourceCommit", func(r *v1.AuditRecord) { r.SourceCommit = strings.Repeat("f", 40) }, false},
		{"prev", func(r *v1.AuditRecord) { r.Prev = "00" }, false},
		{"values cannot be shifted between fields", func(r *v1.AuditRecord) {
			r.From, r.To = "Pending\",\"to\":\"AwaitingApproval", ""
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := vector
			tt.mod(&r)
			got := audit.Hash(r)
			assert.Len(t, got, 64)
			if tt.same {
				assert.Equal(t, base, got)
			} else {
				assert.NotEqual(t, base, got)
			}
		})
	}
}

func TestHashInvalidUTF8SurvivesRoundTrip(t *testing.T) {
	r := vector
	r.Message = "bad \xff\xfe bytes \xe2\x82"
	r.Hash = audit.Hash(r)
	line, err := json.Marshal(r)
	require.NoError(t, err)
	back, err := audit.ParseJSONL("x.jsonl", bytes.NewReader(line))
	require.NoError(t, err)
	require.Len(t, back, 1)
	assert.NotEqual(t, r.Message, back[0].Message, "encoding/json replaced the invalid bytes")
	assert.Equal(t, r.Hash, audit.Hash(back[0]))
}

func TestNext(t *testing.T) {
	tests := []struct {
		name     string
		head     v1.AuditLog
		wantSeq  int64
		wantPrev string
	}{
		{"first record", v1.AuditLog{}, 1, ""},
		{"after seq 41", v1.AuditLog{Seq: 41, Hash: vectorHash}, 42, vectorHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := transition(1)
			in.Time = t0.Add(1500 * time.Millisecond).In(time.FixedZone("X", -7200))
			r := audit.Next(tt.head, in.Record())
			assert.Equal(t, tt.wantSeq, r.Seq)
			assert.Equal(t, tt.wantPrev, r.Prev)
			assert.Equal(t, audit.Hash(r), r.Hash)
			assert.Equal(t, t0.Add(time.Second), r.Time.Time, "time normalised to UTC seconds")
			assert.Equal(t, time.UTC, r.Time.Location())
			assert.NoError(t, audit.VerifyFrom(tt.head, []v1.AuditRecord{r}))
		})
	}
}

func TestTransitionRecord(t *testing.T) {
	tr := transition(3)
	r := tr.Record()
	assert.Equal(t, v1.AuditRecord{
		Time: metav1.NewTime(tr.Time), Cluster: "edge-042", Site: "edge-042",
		Kind: "BondModeFlipPlan", Name: "bondflip", From: "Phase3", To: "Phase4",
		Reason: "StepDone", Message: "step 3 done", Actor: "nodewright-reconciler",
		SourceCommit: "0123456789abcdef0123456789abcdef01234567",
	}, r)
}

func TestAppend(t *testing.T) {
	var log v1.AuditLog
	for i := 1; i <= audit.MaxRecent+10; i++ {
		r := audit.Append(&log, transition(i).Record())
		require.Equal(t, int64(i), r.Seq)
		require.Equal(t, r.Hash, log.Hash)
		require.Equal(t, r.Seq, log.Seq)
	}
	require.Len(t, log.Recent, audit.MaxRecent)
	assert.Equal(t, int64(11), log.Recent[0].Seq)
	assert.Equal(t, log.Seq, log.Recent[len(log.Recent)-1].Seq)
	assert.NoError(t, audit.Verify(log.Recent))
}

func TestUndelivered(t *testing.T) {
	full := chain(10)
	window := v1.AuditLog{Seq: 10, Hash: full[9].Hash, Recent: full[4:]} // seqs 5..10
	tests := []struct {
		name      string
		log       v1.AuditLog
		delivered int64
		want      []int64
		gap       bool
	}{
		{"new sink gets the whole window", window, 0, seqRange(5, 10), false},
		{"sink inside the window", window, 6, seqRange(7, 10), false},
		{"sink right before the window", window, 4, seqRange(5, 10), false},
		{"sink up to date", window, 10, nil, false},
		{"sink fell out of the window", window, 2, nil, true},
		{"empty window behind the head", v1.AuditLog{Seq: 10, Hash: full[9].Hash}, 3, nil, true},
		{"empty chain", v1.AuditLog{}, 0, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := audit.Undelivered(tt.log, tt.delivered)
			if tt.gap {
				var gap *audit.GapError
				require.ErrorAs(t, err, &gap)
				assert.Equal(t, tt.delivered, gap.Delivered)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, nilIfEmpty(seqs(got)))
		})
	}
}

func nilIfEmpty(s []int64) []int64 {
	if len(s) == 0 {
		return nil
	}
	return s
}
