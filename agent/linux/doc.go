// Package linux is the agent's Host on a real Linux node: it reads and
// changes bonds through rtnetlink (github.com/vishvananda/netlink), as
// `ip link` does, and leaves the work to the kernel's bonding driver.
//
// A change is planned before anything is touched (Plan): each option
// requested is checked against the kernel's rules for the target mode
// (an option the mode does not support is refused, as the kernel would
// with EACCES) and sorted by what it needs: set live, set with the bond
// down, or set with the slaves released (a mode change is the last kind:
// the kernel refuses it with ENOTEMPTY while slaves exist, even with the
// bond down). Only the options that differ are sent.
//
// Before the first request the bond's whole state is captured (State:
// mode, options, slaves in order, primary, MTU, MAC, addresses, routes
// through it, link state), and a failed change is undone by restoring it
// (Restore): the kernel drops static IPv6 addresses and the routes through
// a bond that goes down, so they are put back too. Modify requests name
// the bond by name only: on 6.1, a request for an up bond that carries its
// index as well returns EBUSY after applying the option.
package linux
