package operation

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/reconciler/audit"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Chain appends audit records to the cluster's hash chain, whose head
// lives in the NodewrightCluster named after the cluster. Every append is
// a compare-and-swap on that object, so concurrent transitions get
// consecutive links and never fork the chain.
type Chain struct {
	// Client writes the NodewrightCluster.
	Client client.Client
	// Reader reads it uncached, so a compare-and-swap starts from the
	// newest version.
	Reader client.Reader
	// Cluster names the cluster (and its NodewrightCluster).
	Cluster string
	// Notify, when set, is called after each new link (the audit pump).
	Notify func()
}

// maxConflicts bounds the compare-and-swap retries of one append.
const maxConflicts = 50

// Append links rec onto the chain and returns the linked record. When a
// previous attempt linked the same transition of the same operation but
// crashed before the operation's status recorded it (its seq is above
// lastSeq, the newest seq in the operation's status), that record is
// returned instead of a second one: the chain holds each transition once.
func (c *Chain) Append(ctx context.Context, rec v1.AuditRecord, lastSeq int64) (v1.AuditRecord, error) {
	for range maxConflicts {
		nc := &v1.NodewrightCluster{}
		err := c.Reader.Get(ctx, client.ObjectKey{Name: c.Cluster}, nc)
		if apierrors.IsNotFound(err) {
			nc = &v1.NodewrightCluster{ObjectMeta: metav1.ObjectMeta{Name: c.Cluster}}
			if err := c.Client.Create(ctx, nc); err != nil && !apierrors.IsAlreadyExists(err) {
				return rec, fmt.Errorf("create NodewrightCluster %s: %w", c.Cluster, err)
			}
			continue
		}
		if err != nil {
			return rec, fmt.Errorf("read NodewrightCluster %s: %w", c.Cluster, err)
		}
		if orphan, ok := findOrphan(nc.Audit.Recent, rec, lastSeq); ok {
			return orphan, nil
		}
		linked := audit.Append(&nc.Audit, rec)
		err = c.Client.Update(ctx, nc)
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return rec, fmt.Errorf("append audit record to NodewrightCluster %s: %w", c.Cluster, err)
		}
		if c.Notify != nil {
			c.Notify()
		}
		return linked, nil
	}
	return rec, fmt.Errorf("append audit record to NodewrightCluster %s: %d conflicting writers in a row", c.Cluster, maxConflicts)
}

func findOrphan(recent []v1.AuditRecord, rec v1.AuditRecord, lastSeq int64) (v1.AuditRecord, bool) {
	for i := len(recent) - 1; i >= 0; i-- {
		r := recent[i]
		if r.Seq <= lastSeq {
			break
		}
		if r.Kind == rec.Kind && r.Name == rec.Name && r.From == rec.From && r.To == rec.To {
			return r, true
		}
	}
	return v1.AuditRecord{}, false
}
