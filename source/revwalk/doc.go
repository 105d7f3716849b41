// Package revwalk walks git commit graphs. Walk lists the commits
// reachable from some tips and from none of a set of excluded commits
// (what `git rev-list tips --not excluded` lists), parents before
// children. It also gives the excluded commits that the range rests on
// (its boundary) and whether the tips descend from every excluded commit.
// All lists the whole history below some tips. IsAncestor asks whether
// one commit is an ancestor of another.
//
// The walk reads commits through a Loader that the caller passes, and
// needs only their parents and committer times. The caller keeps its own
// commit type: the source verifier's canonical gitobject.Commit, read
// through its bounded object reader, or go-git's object.Commit in a bundle.
// The walk hands those same objects back, so no commit is read or parsed
// twice.
//
// # Order
//
// Walk visits commits newest first by committer time, so that it can stop
// soon after the range instead of reading the whole history. The order it
// returns them in does not depend on those times, which are the
// committer's to set. Commits puts every commit after its parents in the
// range, oldest first where the graph leaves a choice. Rules that carry
// state from a parent to its children, such as the policy in force or the
// lifetime of a file, can rely on that order.
//
// # Stopping rule and clock skew
//
// The walk paints two marks down the graph: "reached from a tip" and
// "reached from an excluded commit". It starts at the tips and the
// excluded commits. Each commit it visits passes its marks to its parents.
// A mark that arrives late, at a commit already visited, is passed on
// again to everything below that commit. The walk stops once no queued
// commit is reached from a tip alone, after visiting slop (5) more
// commits.
//
// Clock skew can make the result larger, never drop a commit:
//
//   - A mark moves only along parent edges, whatever the times say, so a
//     commit marked as excluded really is reachable from an excluded
//     commit.
//   - Take a commit of the range: reachable from a tip, from no excluded
//     commit. Every commit on a path from the tip down to it is in the
//     range too, since an excluded commit reaching any of them would reach
//     it. Each of them is marked "from a tip alone" while it is queued, so
//     the walk cannot stop while one is queued. So every commit of the
//     range is visited and listed, in any time order.
//   - What skew can do is end the walk before the excluded mark reaches a
//     commit that was visited as reached from a tip alone. That commit is
//     then listed although an excluded commit reaches it. The result holds
//     more than the exact range: more commits are checked, never fewer.
//
// When every commit is dated strictly after its parents, the result is
// exact. A commit is then visited only after every queued commit that
// descends from it, so it already carries all its marks. The slop is
// git's revision walk's margin. It lets the excluded mark catch up past
// a few skewed or equally dated commits, so small skew does not even add
// commits. It is not what keeps a commit of the range from being dropped;
// the argument above does that without it.
//
// Descends never claims ancestry that is not there: it is true only when
// the mark from a tip reached every excluded commit. It is exact when no
// excluded commit is an ancestor of another, and in particular for a
// single one, as IsAncestor uses it. The commits between a tip and such an
// excluded commit are reachable from no excluded commit, so the walk
// visits all of them, whatever their times. When one excluded commit is an
// ancestor of another, the walk can stop above it, and Descends can then
// be false although the tips descend from both.
package revwalk
