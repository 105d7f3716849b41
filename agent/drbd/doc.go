// Package drbd reads a node's DRBD 9 state: it runs `drbdsetup status
// --json` through a caller's runner, parses the output into typed resources,
// devices, connections and peer devices, and says whether each resource is
// healthy (UpToDate everywhere, Connected and Established to every peer) or
// what its first problem is.
//
// The package owns the wire format of drbd-utils' JSON status printer
// (user/v9/drbdsetup.c: resource_status_json, device_status_json,
// connection_status_json, peer_device_status_json) and nothing else. It
// never changes DRBD (it runs only the read-only status command), never
// starts a process itself except through the runner it is given (or Exec,
// when the caller passes it), and knows nothing about NodeTasks or the
// agent's status object: the agent maps Resource onto its status.
//
// Parse is strict where a wrong value would mislead: the top level must be
// an array of objects, every known field must have its JSON type, and the
// fields the health verdict reads (names, volumes and the four state
// strings) must be present. It is tolerant where drbd-utils versions differ:
// unknown fields are ignored (newer versions add them, e.g. "tls", "open",
// "paths", "suspended-*"), optional fields may be missing, and state strings
// are trimmed of surrounding white space. Input is bounded by MaxInputSize.
package drbd
