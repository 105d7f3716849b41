package drbd

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// MaxInputSize is the largest status output Parse accepts. drbdsetup prints
// about 1.5 KiB per connection with two volumes, so 4 MiB holds thousands of
// resources; anything larger is not a status report.
const MaxInputSize = 4 << 20

// ErrTooLarge is returned (wrapped) for input over MaxInputSize.
var ErrTooLarge = errors.New("drbd status: output too large")

// ErrMalformed is wrapped by every error Parse returns for input that is not
// a drbdsetup status report (except ErrTooLarge): not JSON, not an array of
// objects, a field of the wrong type, or a required field missing.
var ErrMalformed = errors.New("drbd status: malformed")

// FieldError is a problem with one resource of the array: the element
// itself (Field is empty) or one field inside it. It wraps ErrMalformed.
type FieldError struct {
	// Index is the resource's position in the array.
	Index int
	// Resource is the resource's name when it could be read.
	Resource string
	// Field is the path inside the resource, e.g. devices[1].size or
	// connections[0].peer_devices[0].percent-in-sync.
	Field string
	// Problem says what is wrong, e.g. "got string, want a number".
	Problem string
}

// Error reads, e.g., `drbd status: resources[0] "r0": devices[1].size: got
// string, want a non-negative integer`.
func (e *FieldError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "drbd status: resources[%d]", e.Index)
	if e.Resource != "" {
		fmt.Fprintf(&b, " %q", e.Resource)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Problem)
	return b.String()
}

// Unwrap returns ErrMalformed.
func (e *FieldError) Unwrap() error { return ErrMalformed }

// syntaxError is a problem with the input as a whole.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return "drbd status: " + e.msg }
func (e *syntaxError) Unwrap() error { return ErrMalformed }

// Parse parses the output of `drbdsetup status --json`: a JSON array with
// one object per resource. An empty array gives an empty, non-nil slice.
// Errors wrap ErrTooLarge or ErrMalformed; a problem inside a resource is a
// *FieldError naming the resource's index and the field.
func Parse(data []byte) ([]Resource, error) {
	if len(data) > MaxInputSize {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(data), MaxInputSize)
	}
	lead := len(data) - len(trimJSONSpaceLeft(data))
	body := trimJSONSpaceRight(data[lead:])
	if len(body) == 0 {
		return nil, &syntaxError{"empty input, want a JSON array of resources"}
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(body, &elems); err != nil {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, &syntaxError{fmt.Sprintf("not valid JSON after %d bytes: %v", int64(lead)+se.Offset, se)}
		}
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return nil, &syntaxError{fmt.Sprintf("got %s, want a JSON array of resources", te.Value)}
		}
		return nil, &syntaxError{err.Error()}
	}
	if elems == nil { // the input was null
		return nil, &syntaxError{"got null, want a JSON array of resources"}
	}
	out := make([]Resource, 0, len(elems))
	seen := make(map[string]int, len(elems))
	for i, raw := range elems {
		r, err := parseResource(i, raw)
		if err != nil {
			return nil, err
		}
		if j, dup := seen[r.Name]; dup {
			return nil, &FieldError{Index: i, Resource: r.Name, Field: "name", Problem: fmt.Sprintf("duplicates resources[%d]", j)}
		}
		seen[r.Name] = i
		out = append(out, r)
	}
	return out, nil
}

// The wire types mirror drbdsetup's objects. Required fields are pointers so
// that a missing key is told from a zero value; lists stay raw so that each
// element is decoded on its own and an error can name its index.

type resourceWire struct {
	Name             *string           `json:"name"`
	NodeID           *int              `json:"node-id"`
	Role             string            `json:"role"`
	Suspended        bool              `json:"suspended"`
	SuspendedUser    bool              `json:"suspended-user"`
	SuspendedNoData  bool              `json:"suspended-no-data"`
	SuspendedFencing bool              `json:"suspended-fencing"`
	SuspendedQuorum  bool              `json:"suspended-quorum"`
	ForceIOFailures  bool              `json:"force-io-failures"`
	WriteOrdering    string            `json:"write-ordering"`
	Devices          []json.RawMessage `json:"devices"`
	Connections      []json.RawMessage `json:"connections"`
}

type deviceWire struct {
	Volume       *int    `json:"volume"`
	Minor        int     `json:"minor"`
	DiskState    *string `json:"disk-state"`
	Client       bool    `json:"client"`
	Open         bool    `json:"open"`
	Quorum       bool    `json:"quorum"`
	Size         uint64  `json:"size"`
	Read         uint64  `json:"read"`
	Written      uint64  `json:"written"`
	ALWrites     uint64  `json:"al-writes"`
	BMWrites     uint64  `json:"bm-writes"`
	UpperPending uint32  `json:"upper-pending"`
	LowerPending uint32  `json:"lower-pending"`
}

type connectionWire struct {
	PeerNodeID      *int              `json:"peer-node-id"`
	Name            string            `json:"name"`
	ConnectionState *string           `json:"connection-state"`
	Congested       bool              `json:"congested"`
	PeerRole        string            `json:"peer-role"`
	TLS             bool              `json:"tls"`
	APInFlight      uint64            `json:"ap-in-flight"`
	RSInFlight      uint64            `json:"rs-in-flight"`
	Paths           []json.RawMessage `json:"paths"`
	PeerDevices     []json.RawMessage `json:"peer_devices"`
}

type peerDeviceWire struct {
	Volume                 *int     `json:"volume"`
	ReplicationState       *string  `json:"replication-state"`
	PeerDiskState          *string  `json:"peer-disk-state"`
	PeerClient             bool     `json:"peer-client"`
	ResyncSuspended        string   `json:"resync-suspended"`
	Received               uint64   `json:"received"`
	Sent                   uint64   `json:"sent"`
	OutOfSync              uint64   `json:"out-of-sync"`
	Pending                uint32   `json:"pending"`
	Unacked                uint32   `json:"unacked"`
	HasSyncDetails         bool     `json:"has-sync-details"`
	HasOnlineVerifyDetails bool     `json:"has-online-verify-details"`
	PercentInSync          *float64 `json:"percent-in-sync"`
	PercentResyncDone      *float64 `json:"percent-resync-done"`
}

// problem is a field path inside a resource and what is wrong there.
type problem struct{ field, what string }

func parseResource(i int, raw json.RawMessage) (Resource, error) {
	fail := func(name string, p *problem) (Resource, error) {
		return Resource{}, &FieldError{Index: i, Resource: name, Field: p.field, Problem: p.what}
	}
	var w resourceWire
	p := decodeObject(raw, &w)
	name := ""
	if w.Name != nil {
		name = *w.Name
	}
	if p != nil {
		return fail(name, p)
	}
	if p := required("name", w.Name); p != nil {
		return fail("", p)
	}
	r := Resource{
		Name:             name,
		NodeID:           -1,
		Role:             Role(trimState(w.Role)),
		Suspended:        w.Suspended,
		SuspendedUser:    w.SuspendedUser,
		SuspendedNoData:  w.SuspendedNoData,
		SuspendedFencing: w.SuspendedFencing,
		SuspendedQuorum:  w.SuspendedQuorum,
		ForceIOFailures:  w.ForceIOFailures,
		WriteOrdering:    trimState(w.WriteOrdering),
		Devices:          make([]Device, 0, len(w.Devices)),
		Connections:      make([]Connection, 0, len(w.Connections)),
	}
	if w.NodeID != nil {
		r.NodeID = *w.NodeID
	}
	volumes := map[int]int{}
	for j, raw := range w.Devices {
		d, p := parseDevice(raw)
		if p == nil {
			p = unique(volumes, d.Volume, j, "volume", "devices")
		}
		if p != nil {
			return fail(name, p.in(fmt.Sprintf("devices[%d]", j)))
		}
		r.Devices = append(r.Devices, d)
	}
	peers := map[int]int{}
	for j, raw := range w.Connections {
		c, p := parseConnection(raw)
		if p == nil {
			p = unique(peers, c.PeerNodeID, j, "peer-node-id", "connections")
		}
		if p != nil {
			return fail(name, p.in(fmt.Sprintf("connections[%d]", j)))
		}
		r.Connections = append(r.Connections, c)
	}
	return r, nil
}

func parseDevice(raw json.RawMessage) (Device, *problem) {
	var w deviceWire
	if p := decodeObject(raw, &w); p != nil {
		return Device{}, p
	}
	if p := required("volume", w.Volume); p != nil {
		return Device{}, p
	}
	if p := required("disk-state", w.DiskState); p != nil {
		return Device{}, p
	}
	return Device{
		Volume:       *w.Volume,
		Minor:        w.Minor,
		DiskState:    DiskState(trimState(*w.DiskState)),
		Client:       w.Client,
		Open:         w.Open,
		Quorum:       w.Quorum,
		SizeKiB:      w.Size,
		ReadKiB:      w.Read,
		WrittenKiB:   w.Written,
		ALWrites:     w.ALWrites,
		BMWrites:     w.BMWrites,
		UpperPending: w.UpperPending,
		LowerPending: w.LowerPending,
	}, nil
}

func parseConnection(raw json.RawMessage) (Connection, *problem) {
	var w connectionWire
	if p := decodeObject(raw, &w); p != nil {
		return Connection{}, p
	}
	if p := required("peer-node-id", w.PeerNodeID); p != nil {
		return Connection{}, p
	}
	if p := required("connection-state", w.ConnectionState); p != nil {
		return Connection{}, p
	}
	c := Connection{
		PeerNodeID:      *w.PeerNodeID,
		Name:            w.Name,
		ConnectionState: ConnectionState(trimState(*w.ConnectionState)),
		Congested:       w.Congested,
		PeerRole:        Role(trimState(w.PeerRole)),
		TLS:             w.TLS,
		APInFlight:      w.APInFlight,
		RSInFlight:      w.RSInFlight,
		PeerDevices:     make([]PeerDevice, 0, len(w.PeerDevices)),
	}
	for k, raw := range w.Paths { // an empty list stays nil, as a missing one
		var path Path
		if p := decodeObject(raw, &path); p != nil {
			return Connection{}, p.in(fmt.Sprintf("paths[%d]", k))
		}
		c.Paths = append(c.Paths, path)
	}
	volumes := map[int]int{}
	for k, raw := range w.PeerDevices {
		pd, p := parsePeerDevice(raw)
		if p == nil {
			p = unique(volumes, pd.Volume, k, "volume", "peer_devices")
		}
		if p != nil {
			return Connection{}, p.in(fmt.Sprintf("peer_devices[%d]", k))
		}
		c.PeerDevices = append(c.PeerDevices, pd)
	}
	return c, nil
}

func parsePeerDevice(raw json.RawMessage) (PeerDevice, *problem) {
	var w peerDeviceWire
	if p := decodeObject(raw, &w); p != nil {
		return PeerDevice{}, p
	}
	if p := required("volume", w.Volume); p != nil {
		return PeerDevice{}, p
	}
	if p := required("replication-state", w.ReplicationState); p != nil {
		return PeerDevice{}, p
	}
	if p := required("peer-disk-state", w.PeerDiskState); p != nil {
		return PeerDevice{}, p
	}
	return PeerDevice{
		Volume:                 *w.Volume,
		ReplicationState:       ReplicationState(trimState(*w.ReplicationState)),
		PeerDiskState:          DiskState(trimState(*w.PeerDiskState)),
		PeerClient:             w.PeerClient,
		ResyncSuspended:        trimState(w.ResyncSuspended),
		ReceivedKiB:            w.Received,
		SentKiB:                w.Sent,
		OutOfSyncKiB:           w.OutOfSync,
		Pending:                w.Pending,
		Unacked:                w.Unacked,
		HasSyncDetails:         w.HasSyncDetails,
		HasOnlineVerifyDetails: w.HasOnlineVerifyDetails,
		PercentInSync:          w.PercentInSync,
		PercentResyncDone:      w.PercentResyncDone,
	}, nil
}

// in prefixes the problem's field path with the path of its container.
func (p *problem) in(prefix string) *problem {
	if p.field == "" {
		return &problem{prefix, p.what}
	}
	return &problem{prefix + "." + p.field, p.what}
}

// decodeObject decodes one JSON object into v, which points to a struct.
// Unknown keys are ignored.
func decodeObject(raw json.RawMessage, v any) *problem {
	if string(trimJSONSpaceRight(trimJSONSpaceLeft(raw))) == "null" {
		return &problem{"", "got null, want an object"}
	}
	err := json.Unmarshal(raw, v)
	if err == nil {
		return nil
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return &problem{te.Field, fmt.Sprintf("got %s, want %s", te.Value, describe(te.Type))}
	}
	// The array was valid JSON as a whole, so this is not expected.
	return &problem{"", err.Error()}
}

// describe names the JSON a Go type takes.
func describe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return fmt.Sprintf("an integer from 0 to %d", uint64(1)<<t.Bits()-1)
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}

func required[T any](field string, v *T) *problem {
	if v == nil {
		return &problem{field, "missing (required)"}
	}
	if s, ok := any(*v).(string); ok && strings.TrimSpace(s) == "" {
		return &problem{field, "empty (required)"}
	}
	return nil
}

// unique records key at index j in seen, or says which earlier element of
// list already has it.
func unique(seen map[int]int, key, j int, field, list string) *problem {
	if first, dup := seen[key]; dup {
		return &problem{field, fmt.Sprintf("%d duplicates %s[%d]", key, list, first)}
	}
	seen[key] = j
	return nil
}

// trimState trims white space around a state name, so "Connected " is
// Connected. drbdsetup itself prints a space after the connection-state's
// comma (`"connection-state": "Connected", `, every version since the JSON
// printer was added in 2016): valid JSON white space, which breaks only
// line- or regex-based readers. The trim covers padding inside the quotes,
// which a post-processed or hand-made report can carry, so that it never
// reads as an unknown, unhealthy state.
func trimState(s string) string { return strings.TrimSpace(s) }

// JSON white space is space, tab, line feed and carriage return (RFC 8259).

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func trimJSONSpaceLeft(b []byte) []byte {
	for len(b) > 0 && isJSONSpace(b[0]) {
		b = b[1:]
	}
	return b
}

func trimJSONSpaceRight(b []byte) []byte {
	for len(b) > 0 && isJSONSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
