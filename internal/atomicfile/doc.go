// Package atomicfile replaces files so that a crash, a full disk or a
// failed write leaves either the old content or the new, never a mix, a
// truncated file or an empty one. It is the one place in the tree that
// writes a file meant to survive a crash: state files, indexes, caches,
// queue entries, bundle outputs and the dashboard.
//
// Every write goes to a temporary file in the target's directory (named
// with TempPrefix, so that a directory scan can skip or remove what an
// interrupted write left), which is fsynced, given its permissions,
// renamed over the target, and then the directory is fsynced so that the
// rename itself survives a crash. On any error the temporary file is
// removed and the target is untouched.
//
// WriteFile writes a byte slice; Write streams what a function writes;
// AppendFile adds bytes to the end of a file by writing the old content
// and the new into a replacement, so that a crash never leaves a torn
// last line. SyncDir is for callers that create, rename or remove
// directory entries themselves.
//
// Readers never see a partial file, and concurrent writers to one path
// never produce a torn one: the last rename wins. Read-modify-write
// sequences (AppendFile among them) still need the caller's own lock to
// avoid losing an update.
package atomicfile
