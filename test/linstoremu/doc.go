// Package linstoremu is an emulator of the part of the LINSTOR controller's
// REST API that a replication upgrade uses, for tests that drive the real
// golinstor client (github.com/LINBIT/golinstor/client) against it.
//
// No LINSTOR controller or DRBD 9 can run where the tests run, so the
// emulator plays both: it answers the REST calls with the wire shapes of
// linstor-server's docs/rest_v1_openapi.yaml (OpenAPI 3.0.2, info.version
// 1.28.0, with volumes[].state.replication_states added in OpenAPI 1.25.0
// and served by LINSTOR 1.31.0 and later), and it simulates DRBD's resync of
// new replicas on a virtual clock.
//
// Endpoints (paths, query filters and JSON field names as LINSTOR's):
//
//	GET  /v1/nodes                                  nodes=, offset=, limit=
//	GET  /v1/view/storage-pools                     nodes=, storage_pools=, offset=, limit=
//	GET  /v1/resource-groups/{rg}
//	PUT  /v1/resource-groups/{rg}                   ResourceGroupModify
//	GET  /v1/resource-definitions                   resource_definitions=, with_volume_definitions=
//	POST /v1/resource-definitions/{rd}/autoplace    AutoPlaceRequest
//	GET  /v1/resource-definitions/{rd}/resources
//	GET  /v1/resource-definitions/{rd}/sync-status
//	GET  /v1/view/resources                         resources=, nodes=, storage_pools=, offset=, limit=
//
// What is faithful: error bodies are always a JSON array of ApiCallRc with
// LINSTOR's return codes and masks (golinstor's apiconsts.go); not-found
// codes answer 404, other errors 500, an unparsable body 400, as
// ApiCallRcRestUtils does. Autoplace places place_count minus the diskful
// replicas, answers an already-deployed warning (201, no change) when
// there is nothing to add, an error when replicas would have to be
// deleted, and FAIL_NOT_ENOUGH_NODES when too few online nodes have the
// pool with room, placing nothing then; a new replica takes its size from
// the pool. Modifying a group's place_count autoplaces every short
// resource definition of the group, one after another, inside that one
// request, as CtrlRscGrpApiCallHandler does (the cause of
// linstor-server#253); each Call records what it placed.
//
// Return codes: not found FAIL_NOT_FOUND_RSC_GRP / FAIL_NOT_FOUND_RSC_DFN,
// not enough nodes FAIL_NOT_ENOUGH_NODES, a place count that would delete
// replicas (or a negative one) FAIL_INVLD_PLACE_COUNT, an unparsable body,
// unknown path or method FAIL_INVLD_REQUEST (400, 404, 405), an injected
// failure FAIL_UNKNOWN_ERROR.
//
// What is simplified: one volume (number 0) per resource definition; no
// diskless or tie-breaker replicas; placement honours the storage pool,
// node_name_list and place counts but no other select_filter field; a
// new replica syncs from one UpToDate peer (the first by name) and its
// other peers report Established; a node going offline pauses the syncs
// it takes part in; the replicas of an offline node report no state, as a
// satellite that does not answer reports none. Every node also has
// LINSTOR's DfltDisklessStorPool (DISKLESS, no capacity reported).
//
// Resyncs run on a virtual clock, never on the wall clock: Advance moves it,
// WithPollStep makes every resource view move it, and the rate is
// DefaultSyncRate unless WithSyncRate, WithInstantSync or SetSyncRate say
// otherwise. The call log (Calls, Mutations) records every request with
// the replicas it placed.
//
// Faults are injected with methods that are safe to call while requests
// are served: SetNodeOnline, StallSync, SetStandAlone, SetReplicationState,
// SetPoolFree, FailNext and HangNext/HangAfterNext.
//
// Use:
//
//	emu := linstoremu.New(t, linstoremu.WithSyncRate(10)) // 10 % a virtual second
//	require.NoError(t, emu.AddNode("n1"))
//	require.NoError(t, emu.AddStoragePool("n1", "thin", 100<<20, 100<<20))
//	// ... more nodes and pools ...
//	require.NoError(t, emu.AddResourceGroup("rg", "thin", 2))
//	require.NoError(t, emu.AddResource("rg", "vm-1", 10<<20, "n1", "n2"))
//	u, _ := url.Parse(emu.URL())
//	c, _ := client.NewClient(client.BaseURL(u), client.HTTPClient(&http.Client{Timeout: 5 * time.Second}))
//	_ = c.Resources.Autoplace(ctx, "vm-1", client.AutoPlaceRequest{SelectFilter: client.AutoSelectFilter{PlaceCount: 3}})
//	emu.Advance(10 * time.Second) // the new replica is UpToDate
//	_ = emu.Mutations()           // the autoplace, once
//
// An Emulator is also an http.Handler, for a test that serves it itself.
// The package is test scaffolding: only tests import it.
package linstoremu
