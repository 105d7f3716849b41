package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// MaxRecent is how many of the newest records Append keeps in
// AuditLog.Recent, as the NodewrightCluster API documents.
const MaxRecent = 64

// Canonical returns the canonical JSON of r without its hash field: the
// bytes Hash digests. The exact definition is in the package documentation;
// it is RFC 8785 (JCS) applied to the record's thirteen other fields.
func Canonical(r v1.AuditRecord) []byte {
	b := make([]byte, 0, 256+len(r.Message))
	b = append(b, '{')
	// Keys in ascending byte order; TestCanonicalKeyOrder keeps this honest.
	b = appendStringField(b, "actor", r.Actor, true)
	b = appendStringField(b, "cluster", r.Cluster, false)
	b = appendStringField(b, "from", r.From, false)
	b = appendStringField(b, "kind", r.Kind, false)
	b = appendStringField(b, "message", r.Message, false)
	b = appendStringField(b, "name", r.Name, false)
	b = appendStringField(b, "prev", r.Prev, false)
	b = appendStringField(b, "reason", r.Reason, false)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, r.Seq, 10)
	b = appendStringField(b, "site", r.Site, false)
	b = appendStringField(b, "sourceCommit", r.SourceCommit, false)
	b = append(b, `,"time":`...)
	if r.Time.IsZero() {
		b = append(b, "null"...)
	} else {
		b = appendString(b, r.Time.UTC().Format(time.RFC3339))
	}
	b = appendStringField(b, "to", r.To, false)
	return append(b, '}')
}

// Hash returns the lower-case hex sha256 of Canonical(r), the value that
// belongs in r.Hash. The hash field of r itself is ignored.
func Hash(r v1.AuditRecord) string {
	sum := sha256.Sum256(Canonical(r))
	return hex.EncodeToString(sum[:])
}

// Next links r onto the chain whose head is head: it sets Seq to head.Seq+1
// and Prev to head.Hash, normalises Time to UTC whole seconds (what the
// record reads back as from JSON) and fills Hash. Only head.Seq and
// head.Hash are read.
func Next(head v1.AuditLog, r v1.AuditRecord) v1.AuditRecord {
	r.Seq = head.Seq + 1
	r.Prev = head.Hash
	if !r.Time.IsZero() {
		r.Time = metav1.NewTime(r.Time.UTC().Truncate(time.Second))
	}
	r.Hash = Hash(r)
	return r
}

// Append links r onto log with Next, makes it the new head and keeps the
// newest MaxRecent records in log.Recent. It returns the linked record.
// Storing log (with optimistic concurrency) is the caller's job.
func Append(log *v1.AuditLog, r v1.AuditRecord) v1.AuditRecord {
	rec := Next(*log, r)
	log.Seq, log.Hash = rec.Seq, rec.Hash
	recent := append(log.Recent, rec)
	if len(recent) > MaxRecent {
		recent = append([]v1.AuditRecord(nil), recent[len(recent)-MaxRecent:]...)
	}
	log.Recent = recent
	return rec
}

// Transition is one phase change of an operation, the input from which an
// audit record is built.
type Transition struct {
	// Cluster is the name of the cluster that made the transition.
	Cluster string
	// Site is the site the cluster serves.
	Site string
	// Kind is the operation's kind, e.g. BondModeFlipPlan.
	Kind string
	// Name is the operation's name.
	Name string
	// From is the phase left.
	From string
	// To is the phase entered.
	To string
	// Reason is the reason code of the transition.
	Reason string
	// Message says what happened, for a person.
	Message string
	// Actor is who caused the transition (controller, principal or agent).
	Actor string
	// SourceCommit is the fleet commit the operation was applied from.
	SourceCommit string
	// Time is when the transition happened.
	Time time.Time
}

// Record returns the unlinked audit record for t: Seq, Prev and Hash are
// left empty for Next or Append to fill.
func (t Transition) Record() v1.AuditRecord {
	return v1.AuditRecord{
		Time:         metav1.NewTime(t.Time),
		Cluster:      t.Cluster,
		Site:         t.Site,
		Kind:         t.Kind,
		Name:         t.Name,
		From:         t.From,
		To:           t.To,
		Reason:       t.Reason,
		Message:      t.Message,
		Actor:        t.Actor,
		SourceCommit: t.SourceCommit,
	}
}

// Undelivered returns the records of log.Recent with a seq above delivered,
// oldest first, for a sink that holds everything up to delivered. It
// returns a *GapError when delivered is above 0 but the records right after
// it have already left the Recent window, so that the gap is reported
// instead of skipped.
func Undelivered(log v1.AuditLog, delivered int64) ([]v1.AuditRecord, error) {
	for i, r := range log.Recent {
		if r.Seq <= delivered {
			continue
		}
		if delivered > 0 && r.Seq != delivered+1 {
			return nil, &GapError{Delivered: delivered, Oldest: r.Seq}
		}
		return log.Recent[i:], nil
	}
	if delivered > 0 && delivered < log.Seq {
		return nil, &GapError{Delivered: delivered, Oldest: log.Seq + 1}
	}
	return nil, nil
}

// GapError says that the records a sink needs next are no longer in the
// cluster's Recent window; they must be fed from the status branch's
// audit.jsonl instead.
type GapError struct {
	// Delivered is the highest seq the sink holds.
	Delivered int64
	// Oldest is the oldest seq above Delivered still available.
	Oldest int64
}

// Error describes the gap.
func (e *GapError) Error() string {
	return "audit: sink holds records up to seq " + strconv.FormatInt(e.Delivered, 10) +
		" but the oldest available record after it is seq " + strconv.FormatInt(e.Oldest, 10)
}

func appendStringField(b []byte, key, value string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...) // keys are plain ASCII
	b = append(b, '"', ':')
	return appendString(b, value)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as an RFC 8785 JSON string. A byte that does not
// start a valid UTF-8 sequence becomes U+FFFD, as encoding/json does when it
// writes or reads such a string, so a record hashes the same before and
// after a round trip through JSON.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
