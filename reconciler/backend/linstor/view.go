package linstor

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/nodewright/nodewright/reconciler/backend"
)

// Resource flags that leave a replica out of a resource's replicas.
var (
	flagsDiskless = []string{"DISKLESS", "DRBD_DISKLESS", "TIE_BREAKER"}
	flagsDeleting = []string{"DELETE", "DRBD_DELETE"}
)

func hasFlag(flags []string, want ...string) bool {
	return slices.ContainsFunc(flags, func(f string) bool { return slices.Contains(want, strings.ToUpper(f)) })
}

// viewResource is one replica of /v1/view/resources, decoded with what
// golinstor's ResourceWithVolumes drops (volumes[].state.replication_states).
type viewResource struct {
	Name        string       `json:"name"`
	NodeName    string       `json:"node_name"`
	Flags       []string     `json:"flags"`
	LayerObject *viewLayer   `json:"layer_object"`
	Volumes     []viewVolume `json:"volumes"`
}

// viewLayer is a node of a resource's layer tree; only DRBD's
// connections are read.
type viewLayer struct {
	Type     string      `json:"type"`
	Children []viewLayer `json:"children"`
	Drbd     *struct {
		Connections map[string]viewConnection `json:"connections"`
	} `json:"drbd"`
}

type viewConnection struct {
	Connected bool   `json:"connected"`
	Message   string `json:"message"`
}

type viewVolume struct {
	VolumeNumber int32 `json:"volume_number"`
	State        struct {
		DiskState         string                          `json:"disk_state"`
		ReplicationStates map[string]viewReplicationState `json:"replication_states"`
	} `json:"state"`
}

type viewReplicationState struct {
	ReplicationState string   `json:"replication_state"`
	DonePercentage   *float64 `json:"done_percentage"`
}

// diskful is true for a replica that holds data and is not being
// deleted.
func (v viewResource) diskful() bool {
	return !hasFlag(v.Flags, flagsDiskless...) && !hasFlag(v.Flags, flagsDeleting...)
}

// drbd returns the first DRBD layer of the tree, depth first.
func (l *viewLayer) drbd() *viewLayer {
	if l == nil {
		return nil
	}
	if l.Drbd != nil {
		return l
	}
	for i := range l.Children {
		if d := l.Children[i].drbd(); d != nil {
			return d
		}
	}
	return nil
}

// unknownDisk is the state of a replica whose volumes report none (its
// satellite is offline, say): DRBD's name for a disk not known.
const unknownDisk = "DUnknown"

// diskRank orders DRBD disk states from best (0) to worst; a state not
// listed ranks between Inconsistent and DUnknown.
var diskRank = map[string]int{
	backend.UpToDate: 0, "Consistent": 1, "Outdated": 2, "Negotiating": 3, "Attaching": 4, "Detaching": 4,
	"Inconsistent": 5, unknownDisk: 7, "Diskless": 8, "Failed": 9,
}

func rankDisk(s string) int {
	if r, ok := diskRank[s]; ok {
		return r
	}
	return 6
}

// replica is the backend's view of one replica: the worst volume's disk
// state and, per peer, the connection and the volume furthest behind.
func (v viewResource) replica() backend.Replica {
	r := backend.Replica{Node: v.NodeName}
	for _, vol := range v.Volumes {
		s := vol.State.DiskState
		if s == "" {
			s = unknownDisk
		}
		if r.State == "" || rankDisk(s) > rankDisk(r.State) {
			r.State = s
		}
	}
	if r.State == "" {
		r.State = unknownDisk
	}
	peers := map[string]*backend.PeerSync{}
	peer := func(node string) *backend.PeerSync {
		p, ok := peers[node]
		if !ok {
			p = &backend.PeerSync{Node: node, DonePercent: -1}
			peers[node] = p
		}
		return p
	}
	if d := v.LayerObject.drbd(); d != nil {
		for node, c := range d.Drbd.Connections {
			p := peer(node)
			p.Connection = c.Message
			if p.Connection == "" && c.Connected {
				p.Connection = "Connected"
			}
		}
	}
	behind := map[string]viewReplicationState{}
	for _, vol := range v.Volumes {
		for node, rs := range vol.State.ReplicationStates {
			if cur, ok := behind[node]; !ok || further(rs, cur) {
				behind[node] = rs
			}
		}
	}
	for node, rs := range behind {
		p := peer(node)
		p.Replication = rs.ReplicationState
		if rs.DonePercentage != nil {
			p.DonePercent = *rs.DonePercentage
		}
	}
	for _, node := range slices.Sorted(maps.Keys(peers)) {
		r.Peers = append(r.Peers, *peers[node])
	}
	return r
}

// further is true when a is further behind than b: not Established
// while b is, or both so and less done.
func further(a, b viewReplicationState) bool {
	ae, be := a.ReplicationState == "Established", b.ReplicationState == "Established"
	if ae != be {
		return be
	}
	return done(a) < done(b)
}

// done is a replication state's progress; an unreported one counts as
// complete when Established and as not begun otherwise.
func done(s viewReplicationState) float64 {
	switch {
	case s.DonePercentage != nil:
		return *s.DonePercentage
	case s.ReplicationState == "Established":
		return 100
	default:
		return -1
	}
}

// recordKey is the context key of a call's record.
type recordKey struct{}

// record is what recordingTransport keeps of one call's exchanges: the
// last status, a 404's body (golinstor does not read it) and, when keep
// is set, a successful response's body as golinstor reads it.
type record struct {
	keep bool

	mu      sync.Mutex
	status  int
	errBody []byte
	body    bytes.Buffer
}

func (r *record) result() (int, []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status, r.errBody
}

// maxErrBody bounds the 404 body a record keeps.
const maxErrBody = 1 << 20

// recordingTransport is the http.Client's transport: it passes every
// request on and, for a request whose context holds a record, fills it.
type recordingTransport struct {
	base http.RoundTripper
	// max bounds an answer's body (MaxAnswerBytes when 0).
	max int64
}

func (t *recordingTransport) maxAnswer() int64 {
	if t.max > 0 {
		return t.max
	}
	return MaxAnswerBytes
}

// MaxAnswerBytes bounds what one answer of the controller may hold: a
// larger body fails to read (and the call fails as transient) instead of
// filling the reconciler's memory. A resource view of 10,000 replicas is
// about 20 MiB.
const MaxAnswerBytes = 256 << 20

// errAnswerTooLarge is what reading past MaxAnswerBytes of a body returns.
var errAnswerTooLarge = fmt.Errorf("the controller's answer is larger than %d MiB", MaxAnswerBytes>>20)

// boundedBody fails a read past its limit.
type boundedBody struct {
	io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errAnswerTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// RoundTrip implements http.RoundTripper.
func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err == nil {
		resp.Body = &boundedBody{ReadCloser: resp.Body, left: t.maxAnswer()}
	}
	rec, _ := req.Context().Value(recordKey{}).(*record)
	if err != nil || rec == nil {
		return resp, err
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.status = resp.StatusCode
	switch {
	case resp.StatusCode == http.StatusNotFound:
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrBody))
		_ = resp.Body.Close()
		if rerr != nil {
			b = nil
		}
		rec.errBody = b
		resp.Body = io.NopCloser(bytes.NewReader(b))
	case rec.keep && resp.StatusCode >= 200 && resp.StatusCode < 300:
		rec.body.Reset()
		resp.Body = teeBody{ReadCloser: resp.Body, w: &rec.body}
	}
	return resp, nil
}

// teeBody copies what is read of a body into w.
type teeBody struct {
	io.ReadCloser
	w *bytes.Buffer
}

func (b teeBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.w.Write(p[:n])
	return n, err
}
