package memory

import (
	"fmt"
	"strings"
)

// The method names the call log records and Fail takes.
const (
	// MethodResourceGroup is Storage.ResourceGroup.
	MethodResourceGroup = "ResourceGroup"
	// MethodPlace is Storage.Place.
	MethodPlace = "Place"
	// MethodSetPlaceCount is Storage.SetPlaceCount.
	MethodSetPlaceCount = "SetPlaceCount"
	// MethodStoragePools is Storage.StoragePools.
	MethodStoragePools = "StoragePools"
	// MethodEvacuate is VMs.Evacuate.
	MethodEvacuate = "Evacuate"
	// MethodRelease is VMs.Release.
	MethodRelease = "Release"
	// MethodCheck is VMs.Check.
	MethodCheck = "Check"
	// MethodSnapshot is VMs.Snapshot.
	MethodSnapshot = "Snapshot"
	// MethodMigrateLive is VMs.MigrateLive.
	MethodMigrateLive = "MigrateLive"
	// MethodSetRunning is VMs.SetRunning.
	MethodSetRunning = "SetRunning"
	// MethodCopy is VMs.Copy.
	MethodCopy = "Copy"
	// MethodSwap is VMs.Swap.
	MethodSwap = "Swap"
	// MethodChecksums is VMs.Checksums.
	MethodChecksums = "Checksums"
	// MethodRollBack is VMs.RollBack.
	MethodRollBack = "RollBack"
)

// Call is one entry of a simulated backend's call log.
type Call struct {
	// Method is the backend method, one of the Method constants.
	Method string
	// Target is what the call acted on: a resource group, a node, or a
	// VM as namespace/name.
	Target string
	// Args are the call's other arguments, formatted for reading.
	Args string
	// Changed is true when this call changed the simulated state or
	// started the long job that will change it; a call that only observed
	// (a read, a repeat of a finished or running job) leaves it false. So
	// the calls with Changed set are the mutations, each exactly once.
	Changed bool
	// Err is the error the call returned, "" when none.
	Err string
}

// String formats the call as Method(target, args) with its outcome.
func (c Call) String() string {
	var b strings.Builder
	b.WriteString(c.Method)
	b.WriteString("(")
	b.WriteString(c.Target)
	if c.Args != "" {
		b.WriteString(", ")
		b.WriteString(c.Args)
	}
	b.WriteString(")")
	if c.Changed {
		b.WriteString(" changed")
	}
	if c.Err != "" {
		b.WriteString(" error: ")
		b.WriteString(c.Err)
	}
	return b.String()
}

// log is a call log with its fault table; the owner's mutex guards both.
type log struct {
	calls  []Call
	faults map[string]*fault
}

type fault struct {
	err  error
	left int // calls left to fail; <= 0 fails until cleared
}

// fail arms (or with a nil err clears) the fault of method.
func (l *log) fail(method string, err error, times int) {
	if err == nil {
		delete(l.faults, method)
		return
	}
	if l.faults == nil {
		l.faults = map[string]*fault{}
	}
	l.faults[method] = &fault{err: err, left: times}
}

// fault returns the injected error of method, if any, and counts it.
func (l *log) fault(method string) error {
	f, ok := l.faults[method]
	if !ok {
		return nil
	}
	if f.left > 0 {
		f.left--
		if f.left == 0 {
			delete(l.faults, method)
		}
	}
	return f.err
}

// record appends a call and returns err, so a method can end with
// `return s.log.record(...)`.
func (l *log) record(method, target string, changed bool, err error, format string, args ...any) error {
	c := Call{Method: method, Target: target, Args: fmt.Sprintf(format, args...), Changed: changed}
	if err != nil {
		c.Err = err.Error()
		c.Changed = false
	}
	l.calls = append(l.calls, c)
	return err
}

func (l *log) snapshot(onlyChanged bool) []Call {
	out := make([]Call, 0, len(l.calls))
	for _, c := range l.calls {
		if !onlyChanged || c.Changed {
			out = append(out, c)
		}
	}
	return out
}
