// Package linstor is the LINSTOR backend: a backend.Storage over the
// golinstor REST client (github.com/LINBIT/golinstor, v0.63.0) talking
// to a LINSTOR controller.
//
// What it asks of LINSTOR, per method:
//
//   - ResourceGroup: three GETs whatever the group's size: the resource
//     group (its place count from select_filter.place_count), every
//     resource definition with its volume definitions (filtered by
//     resource_group_name here, since LINSTOR has no such filter), and one
//     /v1/view/resources for the group's resources (named in resources=
//     when the list fits a URL, else all of them, filtered here).
//     Diskless and tiebreaker replicas and those being deleted are left
//     out; a replica's state is its worst volume's disk state; its peers
//     come from the DRBD layer's connections and each volume's
//     replication states (the volume furthest behind wins).
//   - Place: the group's storage pool from a GET of the group, a check
//     that every resource is the group's, then one autoplace per resource
//     with select_filter.place_count (and the group's storage pool).
//     Autoplace is idempotent: a resource that has its replicas already
//     gets LINSTOR's "already deployed" warning, which is success.
//   - SetPlaceCount: one PUT of the group with select_filter.place_count
//     only. LINSTOR merges the filter field by field, so the group's other
//     filter settings stay. A PUT that raises the place count autoplaces
//     every short resource inside that one request, which can take
//     minutes on a large group; Place therefore comes first, and this PUT
//     finds nothing left to place.
//   - StoragePools: GET /v1/nodes and /v1/view/storage-pools for the pool.
//
// Every call gets a deadline (Config.Timeout, on the request's context
// and on the http.Client), since golinstor's client has none of its own.
//
// Errors are classified once, by classify, into the backend's typed
// errors: an unknown object is a *backend.NotFoundError, LINSTOR's
// verdicts a retry does not change (not enough nodes, an invalid place
// count, a replica count that would need deletions, access denied, a 4xx
// answer) are a *backend.RefusedError, and everything that may pass (5xx
// answers that are not a verdict, timeouts, connection errors, garbled
// answers) a *backend.TransientError.
//
// Where golinstor v0.63.0 falls short, and what this package does:
//
//   - Its VolumeState has only disk_state and drops replication_states
//     (LINSTOR >= 1.31.0), and it offers no way to make a request of one's
//     own. The /v1/view/resources call is made through golinstor
//     (Resources.GetResourceView, so its auth, controller fail-over and
//     error handling apply), and the http.Client's transport keeps a copy
//     of that one response's body, which this package decodes with its
//     own small struct (viewResource).
//   - On a 404 it returns client.NotFoundError without reading the body,
//     and for other error statuses it keeps the body but not the status.
//     The same transport records each call's status and a 404's body, so
//     classify knows which object is missing (LINSTOR's return code and
//     obj_refs) and whether an answer was 4xx or 5xx.
//   - It re-reads TLS client certificate files per connection only when
//     they come from its LS_USER_* environment variables, with no option
//     for it. This package builds its own tls.Config whose
//     GetClientCertificate reads the certificate and key files at every
//     handshake, so a renewed Secret is picked up without a restart.
//   - RDGetAllRequest.Limit is sent as a second offset, so resource
//     definitions are never paginated.
//   - NewClient reads LS_CONTROLLERS, LS_USERNAME, LS_PASSWORD,
//     LS_BEARER_TOKEN_FILE and the LS_* TLS variables from the process's
//     environment. New sets every one of those settings explicitly, so the
//     environment changes nothing, and turns golinstor's request logging
//     (a curl line per request, credentials included) off.
//
// The package owns only its client. It holds no state between calls:
// every answer is LINSTOR's as of the call.
package linstor
