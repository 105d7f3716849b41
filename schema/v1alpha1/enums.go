package v1alpha1

import (
	"strings"
	"time"
)

// BondMode is a Linux bonding mode by its kernel name.
// +kubebuilder:validation:Enum=balance-rr;active-backup;balance-xor;broadcast;802.3ad;balance-tlb;balance-alb
type BondMode string

// The bonding modes of the Linux kernel (Documentation/networking/bonding).
const (
	BondBalanceRR    BondMode = "balance-rr"
	BondActiveBackup BondMode = "active-backup"
	BondBalanceXOR   BondMode = "balance-xor"
	BondBroadcast    BondMode = "broadcast"
	Bond8023AD       BondMode = "802.3ad"
	BondBalanceTLB   BondMode = "balance-tlb"
	BondBalanceALB   BondMode = "balance-alb"
)

// BondModes lists every bond mode, in the kernel's numbering order.
var BondModes = []BondMode{BondBalanceRR, BondActiveBackup, BondBalanceXOR, BondBroadcast, Bond8023AD, BondBalanceTLB, BondBalanceALB}

// VMProtection says what happens to the VMs of a node before its bond flips.
// +kubebuilder:validation:Enum=LiveMigrate;Shutdown;None
type VMProtection string

const (
	// VMProtectionLiveMigrate live-migrates the node's VMs away first.
	VMProtectionLiveMigrate VMProtection = "LiveMigrate"
	// VMProtectionShutdown lets the node's VMs be shut down and started
	// after: the KubeVirt backend still live-migrates the VMs that can
	// move and stops the rest; the in-memory stand-in stops them all.
	VMProtectionShutdown VMProtection = "Shutdown"
	// VMProtectionNone leaves VMs running through the flip.
	VMProtectionNone VMProtection = "None"
)

// VMProtections lists every VMProtection.
var VMProtections = []VMProtection{VMProtectionLiveMigrate, VMProtectionShutdown, VMProtectionNone}

// MigrationMode says how a VM's volumes move.
// +kubebuilder:validation:Enum=Auto;Hot;Cold
type MigrationMode string

const (
	// MigrationAuto picks Hot when the VM is running and live-migratable, else Cold.
	MigrationAuto MigrationMode = "Auto"
	// MigrationHot moves volumes while the VM runs (KubeVirt volume migration).
	MigrationHot MigrationMode = "Hot"
	// MigrationCold stops the VM, copies, swaps and starts it.
	MigrationCold MigrationMode = "Cold"
)

// MigrationModeTarget is the status.progress target of a VMVolumeMigration
// that records the mode it runs in: its phase is Hot or Cold once the
// Validating phase chose.
const MigrationModeTarget = "mode"

// ChosenMode is the mode a VMVolumeMigration runs in: its spec's Hot or
// Cold, or for Auto what Validating chose as its status records it; Auto
// when it has not chosen yet.
func (m *VMVolumeMigration) ChosenMode() MigrationMode {
	switch m.Spec.Mode {
	case MigrationHot, MigrationCold:
		return m.Spec.Mode
	}
	for _, p := range m.Status.Progress {
		if p.Target == MigrationModeTarget && (p.Phase == string(MigrationHot) || p.Phase == string(MigrationCold)) {
			return MigrationMode(p.Phase)
		}
	}
	return MigrationAuto
}

// MigrationModes lists every MigrationMode.
var MigrationModes = []MigrationMode{MigrationAuto, MigrationHot, MigrationCold}

// Weekday is a day of a maintenance window, by its three-letter name.
// +kubebuilder:validation:Enum=Mon;Tue;Wed;Thu;Fri;Sat;Sun
type Weekday string

// Weekdays lists the days from Monday, as windows name them.
var Weekdays = []Weekday{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// Bounds shared by the Go validation and the CRD markers (which repeat the
// literals; a test checks that they agree).
const (
	MinRevertAfter     = 10 * time.Second
	MaxRevertAfter     = 30 * time.Minute
	DefaultRevertAfter = 2 * time.Minute

	MinProbeTimeout     = time.Second
	MaxProbeTimeout     = 5 * time.Minute
	DefaultProbeTimeout = 10 * time.Second

	MinSyncTimeout     = time.Minute
	MaxSyncTimeout     = 48 * time.Hour
	DefaultSyncTimeout = time.Hour
	// MinStallTimeout, MaxStallTimeout and DefaultStallTimeout bound and
	// default ReplicationUpgradeSpec.StallTimeout.
	MinStallTimeout     = time.Minute
	MaxStallTimeout     = 24 * time.Hour
	DefaultStallTimeout = 10 * time.Minute

	MinWindowDuration = 15 * time.Minute
	MaxWindowDuration = 24 * time.Hour

	MinInterval     = 10 * time.Second
	MaxInterval     = 24 * time.Hour
	DefaultInterval = time.Minute

	MinPlaceCount = 1
	MaxPlaceCount = 16

	DefaultMaxUnavailable = 1
	DefaultBatchSize      = 10
	MaxBatchSize          = 1000
)

// FormatDuration writes d the way manifests and CEL rules spell it: no
// trailing zero units (2m, 1h30m, 90s), where time.Duration.String
// writes 2m0s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
