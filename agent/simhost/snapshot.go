package simhost

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/nodewright/nodewright/agent/journal"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

var _ journal.Host = (*Host)(nil)

// snapshot is a simulated bond's state as a journal keeps it.
type snapshot struct {
	Bond string      `json:"bond"`
	Mode v1.BondMode `json:"mode"`
}

func readSnapshot(raw json.RawMessage) (snapshot, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var s snapshot
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("simulated host: bond snapshot: %w", err)
	}
	if !slices.Contains(v1.BondModes, s.Mode) {
		return s, fmt.Errorf("simulated host: bond snapshot: %q is not a bond mode", s.Mode)
	}
	return s, nil
}

// Snapshot returns the bond's state (its mode) for a journal.
func (h *Host) Snapshot(ctx context.Context, bond string) (json.RawMessage, error) {
	mode, err := h.BondMode(ctx, bond)
	if err != nil {
		return nil, err
	}
	return json.Marshal(snapshot{Bond: bond, Mode: mode})
}

// Restore sets the bond back to pre's mode, as SetBondMode does (so it is
// journalled, and faults and holds apply). With post it leaves a bond that
// runs neither mode alone (journal.ErrChangedSince); a bond already in
// pre's mode is not touched.
func (h *Host) Restore(ctx context.Context, pre, post json.RawMessage) (bool, error) {
	want, err := readSnapshot(pre)
	if err != nil {
		return false, err
	}
	mode, err := h.BondMode(ctx, want.Bond)
	if err != nil {
		return false, err
	}
	if mode == want.Mode {
		return false, nil
	}
	if post != nil {
		after, err := readSnapshot(post)
		if err != nil {
			return false, err
		}
		if mode != after.Mode {
			return false, fmt.Errorf("bond %s runs %s, neither %s (before) nor %s (after the change): %w", want.Bond, mode, want.Mode, after.Mode, journal.ErrChangedSince)
		}
	}
	return true, h.SetBondMode(ctx, want.Bond, want.Mode)
}
