// Package bundle carries a fleet repository and the status branch across an
// air gap as ordinary git bundle files, each with a small signed manifest.
//
// Hub to site: Create writes an incremental bundle (git bundle v2, which
// `git bundle verify` and `git fetch` accept) of the fleet branch holding
// every commit since what the site last acknowledged (the appliedCommit of
// its clusters/<cluster>/status.yaml on the status branch) or since a given
// revision, and next to it <bundle>.manifest: a JSON document naming the
// bundle's sha256, branch, tip, prerequisites and a sequence number that
// rises per (origin, branch), signed by the operator's SSH key (namespace
// "nodewright-bundle") or OpenPGP key. Import checks at the site, in this
// order, the manifest signature against the policy in force (a committer
// must have signed it), the bundle's sha256, the prerequisites and the
// sequence (BundleReplay for an old or repeated one, a reported gap for a
// jump), and then hands the bundle to source.Source, so that the bundle is
// imported into the source's mirror and every new commit is verified as a
// fetched one would be.
//
// Site to hub: Create with Status bundles the site's status branch since the
// status commit the hub last acknowledged; ImportStatus at the hub checks
// the manifest against the cluster's keys (.nodewright/clusters.yaml), that
// every new commit is signed by the cluster and changes nothing outside
// clusters/<cluster>/, then fast-forwards the hub's status branch or makes a
// merge commit that takes only that directory, keeping the cluster's signed
// commits as its second parent.
//
// The package owns the manifest format and its signatures, the bundle
// writer, the bundle sequence state files (one per side: the creator's
// sequence numbers, the importer's last sequence per origin and branch, and
// the status commits acknowledged per cluster) and the status-branch merge
// of ImportStatus. It must not touch what other packages own: it never
// judges fleet commits itself (source does, through Source.Sync), never
// writes a source's state.json or mirror except through source.Source, never
// writes status.yaml or audit.jsonl (fleet/statusbranch does), and reads the
// cluster keys through fleet/clusters.
package bundle
