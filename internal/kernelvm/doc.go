// Package kernelvm is what the kernel tests (build tag kerneltest) stand on:
// tests that drive real Linux networking (bonds, veth pairs, addresses)
// through netlink, as root, each in network namespaces of its own.
//
// They run where the kernel has what they need. make kernel-test
// (hack/kernel-test.sh) builds a package's tests with -tags kerneltest,
// boots Debian's cloud kernel under qemu with the binary, busybox and the
// tls, bonding and veth modules in an initramfs, and runs it there as PID 1's
// child with NODEWRIGHT_KERNEL_VM=1; bonding is loaded with max_bonds=0, so
// no bond0 exists until a test makes one. Run by hand (go test -tags
// kerneltest) they also run as root on a host whose kernel can make a bond
// in a fresh namespace, and skip elsewhere, saying why.
//
// A test calls [Require] first, then makes its namespaces with [NewNetns]
// and links them with [VethPair]. A namespace made by NewNetns is a fresh
// one that no process has entered: the test's own thread never leaves the
// namespace it started in, and everything in it goes away with the test.
package kernelvm
