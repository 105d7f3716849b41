package linstoremu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	linstor "github.com/LINBIT/golinstor"
)

// maxBody bounds a request body; LINSTOR's requests are small.
const maxBody = 1 << 20

// epoch is the wall time the virtual clock starts at, for timestamps.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// result is what a route answers: a status and a JSON value.
type result struct {
	status int
	body   any
	placed []Placement
	mutate bool
}

// ServeHTTP serves LINSTOR's REST API.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.inFlight.Add(1)
	defer e.inFlight.Add(-1)

	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	e.mu.Lock()
	call := &Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: summarize(body)}
	e.calls = append(e.calls, call)
	f := e.takeFault(r.Method, r.URL.Path)
	if f != nil {
		call.Injected = true
	}
	e.mu.Unlock()

	var res result
	switch {
	case readErr != nil:
		res = errResult(&apiError{status: http.StatusBadRequest, rcs: []apiCallRc{{
			RetCode: rc(linstor.FailInvldRequest), Message: "Unable to read the request body", Cause: readErr.Error()}}})
	case len(body) > maxBody:
		res = errResult(&apiError{status: http.StatusRequestEntityTooLarge, rcs: []apiCallRc{{
			RetCode: rc(linstor.FailInvldRequest), Message: "The request body is too large"}}})
	case f != nil && f.kind == faultFail:
		res = errResult(failure(linstor.FailUnknownError, "Injected controller failure",
			"The emulator was told to fail this request", "", nil))
	case f != nil && f.kind == faultHang:
		if !e.wait(r, f.delay) {
			e.finish(call, result{}, true)
			return
		}
		res = e.route(r, body)
	default:
		res = e.route(r, body)
	}
	if f != nil && f.kind == faultHangAfter {
		e.mu.Lock()
		call.Status, call.Mutation, call.Placed = res.status, res.mutate, res.placed
		e.mu.Unlock()
		if !e.wait(r, f.delay) {
			e.finish(call, res, true)
			return
		}
	}
	e.finish(call, res, false)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(res.status)
	_ = json.NewEncoder(w).Encode(res.body)
}

// wait holds a request back until d passes (true) or its client gives up
// or the emulator closes (false); d = 0 waits for the last two only.
func (e *Emulator) wait(r *http.Request, d time.Duration) bool {
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return true
	case <-r.Context().Done():
		return false
	case <-e.closing:
		return false
	}
}

func (e *Emulator) finish(call *Call, res result, abandoned bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	call.Status, call.Mutation, call.Placed, call.Abandoned = res.status, res.mutate, res.placed, abandoned
}

func summarize(body []byte) string {
	if len(body) == 0 {
		return ""
	}
	var buf bytes.Buffer
	s := string(body)
	if json.Compact(&buf, body) == nil {
		s = buf.String()
	}
	if len(s) > 512 {
		s = s[:512]
	}
	return s
}

func errResult(a *apiError) result { return result{status: a.status, body: a.rcs} }

func methodNotAllowed(r *http.Request) result {
	return result{status: http.StatusMethodNotAllowed, body: []apiCallRc{{
		RetCode: rc(linstor.FailInvldRequest), Message: fmt.Sprintf("Method %s is not allowed on %s", r.Method, r.URL.Path)}}}
}

// route dispatches a request to its handler.
func (e *Emulator) route(r *http.Request, body []byte) result {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	get := r.Method == http.MethodGet
	switch {
	case len(parts) == 2 && parts[0] == "v1" && parts[1] == "nodes":
		if !get {
			return methodNotAllowed(r)
		}
		return e.getNodes(q)
	case len(parts) == 3 && parts[0] == "v1" && parts[1] == "view" && parts[2] == "storage-pools":
		if !get {
			return methodNotAllowed(r)
		}
		return e.getStoragePools(q)
	case len(parts) == 3 && parts[0] == "v1" && parts[1] == "view" && parts[2] == "resources":
		if !get {
			return methodNotAllowed(r)
		}
		return e.getResourceView(q)
	case len(parts) == 3 && parts[0] == "v1" && parts[1] == "resource-groups":
		switch r.Method {
		case http.MethodGet:
			return e.getResourceGroup(parts[2])
		case http.MethodPut:
			return e.modifyResourceGroup(parts[2], body)
		}
		return methodNotAllowed(r)
	case len(parts) == 2 && parts[0] == "v1" && parts[1] == "resource-definitions":
		if !get {
			return methodNotAllowed(r)
		}
		return e.getResourceDefinitions(q)
	case len(parts) == 4 && parts[0] == "v1" && parts[1] == "resource-definitions":
		switch {
		case parts[3] == "autoplace" && r.Method == http.MethodPost:
			return e.autoplaceHandler(parts[2], body)
		case parts[3] == "resources" && get:
			return e.getResources(parts[2], q)
		case parts[3] == "sync-status" && get:
			return e.syncStatus(parts[2])
		case parts[3] == "autoplace" || parts[3] == "resources" || parts[3] == "sync-status":
			return methodNotAllowed(r)
		}
	}
	return result{status: http.StatusNotFound, body: []apiCallRc{{
		RetCode: rc(linstor.FailInvldRequest), Message: fmt.Sprintf("The emulator does not serve %s %s", r.Method, r.URL.Path)}}}
}

// page applies LINSTOR's offset and limit, limit 0 meaning no limit. A
// repeated offset (golinstor's RDGetAllRequest sends its Limit as a second
// offset) counts by its first value.
func page[T any](items []T, q url.Values) []T {
	offset, _ := strconv.Atoi(q.Get("offset"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	if offset < 0 {
		offset = 0
	}
	if offset > len(items) {
		offset = len(items)
	}
	items = items[offset:]
	if limit > 0 && limit < len(items) {
		items = items[:limit]
	}
	return items
}

// filter is a query's list filter: empty matches everything; LINSTOR
// matches names case-insensitively.
func filter(q url.Values, key string) func(string) bool {
	vals := q[key]
	if len(vals) == 0 {
		return func(string) bool { return true }
	}
	set := map[string]bool{}
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			if s != "" {
				set[strings.ToLower(s)] = true
			}
		}
	}
	return func(s string) bool { return len(set) == 0 || set[strings.ToLower(s)] }
}

func (e *Emulator) getNodes(q url.Values) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	match := filter(q, "nodes")
	out := []wireNode{}
	for _, name := range sortedKeys(e.nodes) {
		n := e.nodes[name]
		if !match(name) {
			continue
		}
		status := "ONLINE"
		if !n.online {
			status = "OFFLINE"
		}
		out = append(out, wireNode{
			Name: name, Type: "SATELLITE", Flags: []string{},
			Props: map[string]string{"CurStltConnName": "default", "NodeUname": name},
			NetInterfaces: []wireNetInterface{{
				Name: "default", Address: fmt.Sprintf("10.0.%d.%d", n.index/250, n.index%250+1),
				SatellitePort: 3366, SatelliteEncryptionType: "PLAIN", IsActive: true, UUID: n.uuid,
			}},
			ConnectionStatus: status, UUID: n.uuid,
			StorageProviders: []string{"DISKLESS", "LVM", "LVM_THIN", "FILE", "FILE_THIN"},
			ResourceLayers:   []string{"DRBD", "STORAGE"},
		})
	}
	return result{status: http.StatusOK, body: page(out, q)}
}

func (e *Emulator) getStoragePools(q url.Values) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	matchNode, matchPool := filter(q, "nodes"), filter(q, "storage_pools")
	out := []wireStoragePool{}
	for _, nodeName := range sortedKeys(e.nodes) {
		if !matchNode(nodeName) {
			continue
		}
		names := []string{disklessPool}
		for k := range e.pools {
			if k.node == nodeName {
				names = append(names, k.name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			if !matchPool(name) {
				continue
			}
			if name == disklessPool {
				out = append(out, wireStoragePool{
					StoragePoolName: name, NodeName: nodeName, ProviderKind: "DISKLESS",
					StaticTraits:     map[string]string{"SupportsSnapshots": "false"},
					FreeSpaceMgrName: nodeName + ";" + name, UUID: e.nodes[nodeName].uuid,
				})
				continue
			}
			p := e.pools[poolKey{nodeName, name}]
			free, total := p.free, p.total
			out = append(out, wireStoragePool{
				StoragePoolName: name, NodeName: nodeName, ProviderKind: p.provider,
				Props:             map[string]string{"StorDriver/LvmVg": "vg-" + name, "StorDriver/ThinPool": name, "StorDriver/StorPoolName": "vg-" + name + "/" + name},
				StaticTraits:      map[string]string{"Provisioning": "Thin", "SupportsSnapshots": "true"},
				FreeCapacity:      &free,
				TotalCapacity:     &total,
				FreeSpaceMgrName:  nodeName + ";" + name,
				UUID:              p.uuid,
				SupportsSnapshots: true,
			})
		}
	}
	return result{status: http.StatusOK, body: page(out, q)}
}

func (g *group) wire() wireResourceGroup {
	pc := g.placeCount
	f := wireSelectFilter{PlaceCount: &pc}
	if g.pool != "" {
		sp := g.pool
		f.StoragePool = &sp
		f.StoragePoolList = []string{sp}
	}
	return wireResourceGroup{Name: g.name, SelectFilter: f, UUID: g.uuid}
}

func (e *Emulator) getResourceGroup(name string) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.groups[name]
	if !ok {
		return errResult(notFoundRG(name))
	}
	return result{status: http.StatusOK, body: g.wire()}
}

// decodeBody decodes a JSON request body as LINSTOR's Jackson does (unknown
// fields are ignored); a body that does not parse is a 400.
func decodeBody(body []byte, v any) *apiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); !errors.Is(extra, io.EOF) {
			err = fmt.Errorf("data after the JSON value")
		}
	}
	if err != nil {
		return &apiError{status: http.StatusBadRequest, rcs: []apiCallRc{{
			RetCode: rc(linstor.FailInvldRequest), Message: "Unable to parse the request body as JSON", Cause: err.Error()}}}
	}
	return nil
}

// decodeModify parses a ResourceGroupModify body.
func decodeModify(body []byte) (wireResourceGroupModify, *apiError) {
	var m wireResourceGroupModify
	if err := decodeBody(body, &m); err != nil {
		return m, err
	}
	return m, nil
}

// decodeAutoPlace parses an AutoPlaceRequest body; select_filter is
// required.
func decodeAutoPlace(body []byte) (wireAutoPlaceRequest, *apiError) {
	var a wireAutoPlaceRequest
	if err := decodeBody(body, &a); err != nil {
		return a, err
	}
	if a.SelectFilter == nil {
		return a, &apiError{status: http.StatusBadRequest, rcs: []apiCallRc{{
			RetCode: rc(linstor.FailInvldRequest), Message: "The request has no select_filter", Correction: "Send an AutoPlaceRequest with a select_filter"}}}
	}
	return a, nil
}

func (e *Emulator) modifyResourceGroup(name string, body []byte) result {
	m, perr := decodeModify(body)
	if perr != nil {
		return errResult(perr)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.groups[name]
	if !ok {
		return errResult(notFoundRG(name))
	}
	res := result{status: http.StatusOK}
	var f wireSelectFilter
	if m.SelectFilter != nil {
		f = *m.SelectFilter
	}
	if f.PlaceCount != nil && *f.PlaceCount < 0 {
		return errResult(failure(linstor.FailInvldPlaceCount, fmt.Sprintf("Invalid place count %d.", *f.PlaceCount), "", "", map[string]string{"RscGrp": name}))
	}
	if f.StoragePool != nil && *f.StoragePool != g.pool {
		g.pool = *f.StoragePool
		res.mutate = true
	}
	if f.PlaceCount != nil && *f.PlaceCount != g.placeCount {
		g.placeCount = *f.PlaceCount
		res.mutate = true
	}
	rcs := []apiCallRc{{
		RetCode: rc(linstor.MaskRscGrp | linstor.MaskMod | linstor.Modified),
		Message: fmt.Sprintf("Resource group '%s' modified.", name),
		ObjRefs: map[string]string{"RscGrp": name},
	}}
	if f.PlaceCount != nil {
		// As CtrlRscGrpApiCallHandler: every resource definition of the
		// group with fewer replicas than the new count is autoplaced, one
		// after another, and the answer waits for all of them.
		for _, rdName := range sortedKeys(e.rds) {
			rd := e.rds[rdName]
			if rd.group != name {
				continue
			}
			if len(rd.replicas) >= int(g.placeCount) {
				rcs = append(rcs, apiCallRc{RetCode: rc(linstor.MaskInfo | linstor.MaskRscDfn),
					Message: fmt.Sprintf("Not changing replica count of resource definition '%s': it has %d replicas", rdName, len(rd.replicas))})
				continue
			}
			more, placed, aerr := e.autoplace(rd, placeRequest{placeCount: g.placeCount, pool: g.pool})
			if aerr != nil {
				aerr.rcs = append(rcs, aerr.rcs...)
				r := errResult(aerr)
				r.placed, r.mutate = res.placed, res.mutate
				return r
			}
			rcs = append(rcs, more...)
			res.placed = append(res.placed, placed...)
			res.mutate = res.mutate || len(placed) > 0
		}
	}
	res.body = rcs
	return res
}

func (e *Emulator) autoplaceHandler(name string, body []byte) result {
	a, perr := decodeAutoPlace(body)
	if perr != nil {
		return errResult(perr)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rd, ok := e.rds[name]
	if !ok {
		return errResult(notFoundRD(name))
	}
	// The request's filter wins; what it leaves out comes from the group.
	g := e.groups[rd.group]
	req := placeRequest{placeCount: g.placeCount, pool: g.pool, nodeNames: a.SelectFilter.NodeNameList}
	if req.placeCount == 0 {
		req.placeCount = 2 // "If place_count isn't given 2 is the default"
	}
	f := a.SelectFilter
	if f.PlaceCount != nil {
		req.placeCount = *f.PlaceCount
	}
	if f.AdditionalPlaceCount != nil {
		req.additionalCount = *f.AdditionalPlaceCount
	}
	switch {
	case f.StoragePool != nil && *f.StoragePool != "":
		req.pool = *f.StoragePool
	case len(f.StoragePoolList) > 0:
		req.pool = f.StoragePoolList[0]
	}
	rcs, placed, aerr := e.autoplace(rd, req)
	if aerr != nil {
		return errResult(aerr)
	}
	return result{status: http.StatusCreated, body: rcs, placed: placed, mutate: len(placed) > 0}
}

func (e *Emulator) getResourceDefinitions(q url.Values) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	match := filter(q, "resource_definitions")
	withVols := q.Get("with_volume_definitions") == "true"
	out := []wireResourceDefinition{}
	for _, name := range sortedKeys(e.rds) {
		if !match(name) {
			continue
		}
		rd := e.rds[name]
		w := wireResourceDefinition{
			Name: name, Props: map[string]string{"DrbdOptions/Resource/quorum": "majority"},
			Flags: []string{},
			LayerData: []wireRDLayer{
				{Type: "DRBD", Data: rd.drbdLayer()},
				{Type: "STORAGE"},
			},
			UUID: rd.uuid, ResourceGroupName: rd.group,
		}
		if withVols {
			w.VolumeDefinitions = []wireVolumeDefinition{{VolumeNumber: 0, SizeKib: rd.sizeKiB, Flags: []string{}, UUID: rd.uuid}}
		}
		out = append(out, w)
	}
	return result{status: http.StatusOK, body: page(out, q)}
}

func (rd *resourceDef) drbdLayer() *wireRDLayerData {
	return &wireRDLayerData{PeerSlots: 7, AlStripes: 1, AlStripeSizeKib: 32, Port: int32(rd.port), TransportType: "IP",
		Secret: fmt.Sprintf("emu-secret-%08d", rd.port)}
}

func (e *Emulator) getResources(name string, q url.Values) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	rd, ok := e.rds[name]
	if !ok {
		return errResult(notFoundRD(name))
	}
	matchNode := filter(q, "nodes")
	out := []wireResourceWithVolumes{}
	for _, n := range sortedKeys(rd.replicas) {
		if matchNode(n) {
			out = append(out, e.wireReplica(rd, rd.replicas[n]))
		}
	}
	return result{status: http.StatusOK, body: page(out, q)}
}

func (e *Emulator) getResourceView(q url.Values) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pollStep > 0 {
		e.advance(e.pollStep)
	}
	matchRsc, matchNode, matchPool := filter(q, "resources"), filter(q, "nodes"), filter(q, "storage_pools")
	out := []wireResourceWithVolumes{}
	for _, name := range sortedKeys(e.rds) {
		if !matchRsc(name) {
			continue
		}
		rd := e.rds[name]
		for _, n := range sortedKeys(rd.replicas) {
			r := rd.replicas[n]
			if matchNode(n) && matchPool(r.pool) {
				out = append(out, e.wireReplica(rd, r))
			}
		}
	}
	return result{status: http.StatusOK, body: page(out, q)}
}

func (e *Emulator) syncStatus(name string) result {
	e.mu.Lock()
	defer e.mu.Unlock()
	rd, ok := e.rds[name]
	if !ok {
		return errResult(notFoundRD(name))
	}
	synced := true
	for _, r := range rd.replicas {
		if e.diskState(r) != "UpToDate" {
			synced = false
		}
	}
	return result{status: http.StatusOK, body: wireSyncStatus{SyncedOnAll: synced}}
}

// diskState is the DRBD disk state the replica's satellite reports, ""
// when its node is offline.
func (e *Emulator) diskState(r *replica) string {
	switch {
	case !e.nodes[r.node].online:
		return ""
	case r.upToDate:
		return "UpToDate"
	default:
		return "Inconsistent"
	}
}

// connection is r's view of its DRBD connection to peer.
func (e *Emulator) connection(r, peer *replica) wireDrbdConnection {
	switch {
	case r.standAlone:
		return wireDrbdConnection{Connected: false, Message: "StandAlone"}
	case peer.standAlone || !e.nodes[peer.node].online:
		return wireDrbdConnection{Connected: false, Message: "Connecting"}
	default:
		return wireDrbdConnection{Connected: true, Message: "Connected"}
	}
}

// mirrored is the replication state a peer reports of a pinned one.
var mirrored = map[string]string{
	"WFBitMapT": "WFBitMapS", "WFBitMapS": "WFBitMapT",
	"SyncTarget": "SyncSource", "SyncSource": "SyncTarget",
	"PausedSyncT": "PausedSyncS", "PausedSyncS": "PausedSyncT",
	"StartingSyncT": "StartingSyncS", "StartingSyncS": "StartingSyncT",
	"VerifyT": "VerifyS", "VerifyS": "VerifyT",
	"Ahead": "Behind", "Behind": "Ahead",
}

// replication is r's view of the replication state towards peer.
func (e *Emulator) replication(r, peer *replica) wireReplicationState {
	if s, ok := r.forced[peer.node]; ok {
		return wireReplicationState{ReplicationState: s}
	}
	if s, ok := peer.forced[r.node]; ok {
		if m, ok := mirrored[s]; ok {
			s = m
		}
		return wireReplicationState{ReplicationState: s}
	}
	if !e.connection(r, peer).Connected || !e.connection(peer, r).Connected {
		return wireReplicationState{ReplicationState: "Off"}
	}
	switch {
	case !r.upToDate && r.source == peer.node:
		done := r.done
		return wireReplicationState{ReplicationState: "SyncTarget", DonePercentage: &done}
	case !peer.upToDate && peer.source == r.node:
		done := peer.done
		return wireReplicationState{ReplicationState: "SyncSource", DonePercentage: &done}
	default:
		return wireReplicationState{ReplicationState: "Established"}
	}
}

func (e *Emulator) wireReplica(rd *resourceDef, r *replica) wireResourceWithVolumes {
	online := e.nodes[r.node].online
	disk := e.diskState(r)
	dev := fmt.Sprintf("/dev/drbd%d", rd.minor)
	backing := fmt.Sprintf("/dev/vg-%s/%s_00000", r.pool, rd.name)
	drbd := &wireDrbdResource{
		DrbdResourceDefinition: *rd.drbdLayer(),
		NodeID:                 int32(r.nodeID), PeerSlots: 7, AlStripes: 1, AlSize: 32, Flags: []string{},
		DrbdVolumes: []wireDrbdVolume{{
			DrbdVolumeDefinition: wireDrbdVolumeDefinition{VolumeNumber: 0, MinorNumber: int32(rd.minor)},
			DevicePath:           dev, BackingDevice: backing,
			AllocatedSizeKib: rd.sizeKiB + 4, UsableSizeKib: rd.sizeKiB, DiskState: disk,
		}},
	}
	state := wireVolumeState{DiskState: disk}
	var rscState *wireResourceState
	if online {
		drbd.Connections = map[string]wireDrbdConnection{}
		state.ReplicationStates = map[string]wireReplicationState{}
		for _, p := range sortedKeys(rd.replicas) {
			if p == r.node {
				continue
			}
			peer := rd.replicas[p]
			drbd.Connections[p] = e.connection(r, peer)
			state.ReplicationStates[p] = e.replication(r, peer)
		}
		drbd.PromotionScore = 10102
		drbd.MayPromote = r.upToDate
		inUse := false
		rscState = &wireResourceState{InUse: &inUse}
	}
	return wireResourceWithVolumes{
		Name: rd.name, NodeName: r.node,
		Props: map[string]string{"StorPoolName": r.pool},
		Flags: []string{},
		LayerObject: wireResourceLayer{
			Type: "DRBD", Drbd: drbd,
			Children: []wireResourceLayer{{Type: "STORAGE", Storage: &wireStorageResource{StorageVolumes: []wireStorageVolume{{
				VolumeNumber: 0, DevicePath: backing, AllocatedSizeKib: rd.sizeKiB + 4, UsableSizeKib: rd.sizeKiB + 4, DiskState: "[]",
			}}}}},
		},
		State:           rscState,
		UUID:            r.uuid,
		CreateTimestamp: epoch.Add(r.created).UnixMilli(),
		Volumes: []wireVolume{{
			VolumeNumber: 0, StoragePoolName: r.pool, ProviderKind: e.pools[poolKey{r.node, r.pool}].provider,
			DevicePath: dev, AllocatedSizeKib: rd.sizeKiB + 4, UsableSizeKib: rd.sizeKiB,
			Flags: []string{}, State: state, UUID: r.volUUID,
		}},
	}
}
