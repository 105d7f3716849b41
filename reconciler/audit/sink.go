package audit

import (
	"context"
	"errors"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Sink is a place audit records are shipped to. The reconciler's audit pump
// takes records in seq order from the cluster's chain head and delivers
// those above the sink's Delivered().
type Sink interface {
	// Deliver stores records (seq order, each seq > Delivered()) durably;
	// records at or below Delivered() are skipped so delivery is
	// idempotent.
	Deliver(ctx context.Context, records []v1.AuditRecord) error
	// Delivered is the highest seq the sink holds durably (0 for none).
	Delivered() int64
	// Close releases the sink; Deliver fails with ErrClosed afterwards.
	Close() error
}

// ErrClosed is returned by a sink's methods once it has been closed.
var ErrClosed = errors.New("audit: sink is closed")

// Multi returns a Sink that fans every delivery out to sinks. Its
// Delivered is the lowest of theirs, so the pump feeds the sink that is
// furthest behind and each of the others skips what it already holds. A
// failing sink does not stop delivery to the rest; the errors are joined.
func Multi(sinks ...Sink) Sink {
	return multi(append([]Sink(nil), sinks...))
}

type multi []Sink

func (m multi) Deliver(ctx context.Context, records []v1.AuditRecord) error {
	var errs []error
	for _, s := range m {
		errs = append(errs, s.Deliver(ctx, records))
	}
	return errors.Join(errs...)
}

func (m multi) Delivered() int64 {
	if len(m) == 0 {
		return 0
	}
	lowest := m[0].Delivered()
	for _, s := range m[1:] {
		lowest = min(lowest, s.Delivered())
	}
	return lowest
}

func (m multi) Close() error {
	var errs []error
	for _, s := range m {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// skipDelivered returns the records above delivered, keeping their order.
func skipDelivered(records []v1.AuditRecord, delivered int64) []v1.AuditRecord {
	out := records[:0:0]
	for _, r := range records {
		if r.Seq > delivered {
			out = append(out, r)
		}
	}
	return out
}
