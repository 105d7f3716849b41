package kernelvm

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// EnvVar is the environment variable hack/kernel-test.sh sets to 1 inside
// the VM.
const EnvVar = "NODEWRIGHT_KERNEL_VM"

// Require skips t unless it runs inside the kernel-test VM (EnvVar is 1) or
// as root on a host whose kernel makes a bond in a fresh network namespace.
// The skip message says what is missing and how to run the test.
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv(EnvVar) == "1" {
		return
	}
	if err := hostProbe(); err != nil {
		t.Skipf("kernel test: %v; make kernel-test runs it in a VM", err)
	}
}

// hostProbe finds out once per process whether this host can run the
// kernel tests.
var hostProbe = sync.OnceValue(func() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root")
	}
	ns, err := newNS()
	if err != nil {
		return fmt.Errorf("cannot make a network namespace: %w", err)
	}
	// The probe bond goes away with the namespace.
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("cannot open netlink in a new namespace: %w", err)
	}
	defer h.Close()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "probe0"
	if err := h.LinkAdd(netlink.NewLinkBond(attrs)); err != nil {
		return fmt.Errorf("this kernel cannot make a bond (%w)", err)
	}
	return nil
})

// newNS makes a network namespace on a thread of its own and returns a
// handle to it: netns.New moves the calling thread into the namespace it
// makes, and that thread ends with its locked goroutine instead of going
// back to the scheduler.
func newNS() (netns.NsHandle, error) {
	type result struct {
		ns  netns.NsHandle
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread is in the new namespace and must
		// not run anything else.
		ns, err := netns.New()
		done <- result{ns, err}
	}()
	r := <-done
	return r.ns, r.err
}

// NewNetns makes a fresh network namespace with its loopback up, and a
// netlink handle (routing family only) that works in it. Both are closed
// when the test ends, which removes the namespace and every link in it.
func NewNetns(t testing.TB) (netns.NsHandle, *netlink.Handle) {
	t.Helper()
	ns, err := newNS()
	if err != nil {
		t.Fatalf("new network namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	// NETLINK_ROUTE only: with no families NewHandleAt opens the XFRM and
	// netfilter families too, which kernels without them refuse.
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink handle in the new namespace: %v", err)
	}
	t.Cleanup(h.Close)
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatalf("lo in the new namespace: %v", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatalf("set lo up in the new namespace: %v", err)
	}
	return ns, h
}

// VethPair makes a veth pair whose end name1 is in namespace ns1 and end
// name2 in ns2 (which may be the same namespace), both down, and returns
// the two ends as read back in their namespaces. The pair goes away with
// either namespace.
func VethPair(t testing.TB, ns1, ns2 netns.NsHandle, name1, name2 string) (end1, end2 netlink.Link) {
	t.Helper()
	h1 := handleAt(t, ns1)
	defer h1.Close()
	h2 := handleAt(t, ns2)
	defer h2.Close()
	// NewLinkAttrs, not a bare LinkAttrs: its zero TxQLen would be sent
	// as a queue length of 0 for both ends.
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name1
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: name2, PeerNamespace: netlink.NsFd(ns2)}
	if err := h1.LinkAdd(veth); err != nil {
		t.Fatalf("veth pair %s/%s: %v", name1, name2, err)
	}
	end1, err := h1.LinkByName(name1)
	if err != nil {
		t.Fatalf("veth end %s: %v", name1, err)
	}
	end2, err = h2.LinkByName(name2)
	if err != nil {
		t.Fatalf("veth end %s: %v", name2, err)
	}
	return end1, end2
}

// handleAt opens a routing netlink handle in ns; the caller closes it.
func handleAt(t testing.TB, ns netns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink handle in namespace %v: %v", ns, err)
	}
	return h
}
