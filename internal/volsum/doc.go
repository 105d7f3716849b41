// Package volsum computes and compares checksums of volumes: it is the
// code the checksum Job's pod runs before a VMVolumeMigration lets go of
// a VM's source volumes, and it owns nothing else. It reads the volumes
// it is given and never writes to them, never follows a symlink, never
// reads a device node or a fifo of a tree, and never crosses into another
// file system; it knows nothing of Kubernetes, KubeVirt or the Job that
// mounts the volumes.
//
// # Block mode
//
// Block digests the whole content of a raw device (or a regular file
// standing in for one): its size comes from the device itself (the
// BLKGETSIZE64 ioctl; a regular file's size), and the digest is the
// SHA-256 of exactly that many bytes, read with large buffers. It is the
// value `sha256sum` prints for the same device, so an operator can check
// one by hand. The Digest carries the size beside the hash and Compare
// requires both to be equal (SHA-256 commits to the length anyway through
// its padding); a device that ends before its reported size is an error,
// not a short digest.
//
// # Filesystem mode
//
// Tree digests a directory tree as the SHA-256 of a stream of entry
// records in walk order: depth first, the names of each directory in byte
// order. A record holds, for each entry, its path relative to the root
// ("." for the root itself), its type, its permission bits (the 07777
// bits: rwx for owner, group and others, setuid, setgid and sticky), its
// owner (uid and gid) unless Options.IgnoreOwner is set, and then:
//
//   - a regular file: its size and the SHA-256 of its content;
//   - a symlink: its target, as stored (the link is never followed);
//   - a device node: its type and rdev (major and minor), never opened;
//   - a fifo or a socket: its type only, never opened;
//   - a directory: nothing more (its entries follow as records of their own).
//
// Owners are in by default because a VM's volume is copied block for
// block or by a tool that preserves them, and a guest whose files change
// owner would break just as surely as one whose bytes change; a copy
// known to remap ids sets IgnoreOwner. Times (atime, mtime, ctime) are
// never in: a copy sets them anew and reading changes atime. Extended
// attributes and ACLs are not in either (SELinux labels differ between
// the mounts of one volume).
//
// A regular file with more than one link inside the tree is recorded in
// full at its first path in walk order; every later path to the same
// inode is recorded as a hard link naming that first path, and its content
// is not read again. So two trees match only when the same paths share an
// inode in both. Only inodes with links not yet seen are remembered, so
// memory grows with the hard-linked files in flight, not with the tree.
//
// lost+found at the root is skipped (mkfs makes it and fsck fills it; it
// is not the guest's data); a lost+found anywhere else is an ordinary
// entry. A directory below the root whose device (st_dev) differs from the
// root's is a mount point and fails the digest with ErrMountPoint instead
// of being crossed or skipped: a tree that silently includes or leaves
// out another volume proves nothing. Only directories are checked, since
// overlayfs reports a lower layer's device for its non-directories.
//
// # Compare
//
// Compare digests the source and the target and reports both with a
// verdict. In filesystem mode it walks both trees at once, in lockstep,
// comparing the records as they come, so it can name the first path where
// the trees differ without keeping either tree's records: memory is one
// directory's names per level of the walk on each side. Block devices are
// read concurrently. Both honour the context between buffers and between
// entries, and report progress through Options.Progress.
//
// ParseResult reads back the JSON that the command-line entry writes to
// the pod's termination message, for the reconciler that reads it.
package volsum
