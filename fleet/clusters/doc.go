// Package clusters reads the cluster keys file of a fleet repository,
// .nodewright/clusters.yaml (a sibling of trust.yaml): the clusters of the
// fleet, the site each serves and the public keys each signs its
// status-branch commits with.
//
//	apiVersion: nodewright.io/v1alpha1
//	kind: ClusterKeys
//	clusters:
//	  - name: edge-042
//	    site: edge-042
//	    keys:
//	      - ssh: "ssh-ed25519 AAAAC3Nza... edge-042"
//	      - openpgp: |
//	          -----BEGIN PGP PUBLIC KEY BLOCK-----
//	          ...
//
// It owns that format, its strict decoding (unknown fields, duplicate keys
// or cluster names, malformed keys are errors naming file, line and field)
// and the keyrings built from it for source/signature.Verify. A key is
// held by one cluster only, so a verified signature names exactly one
// cluster. A cluster rotates its key by listing the new key beside the old
// one; keys are not marked revoked here, because the status history they
// signed stays valid.
//
// It reads no git object and verifies no signature: fleet/view finds the
// file at the fleet branch and checks status commits with these keyrings.
// The TrustPolicy and its roles (source/trust) are untouched by it.
package clusters
