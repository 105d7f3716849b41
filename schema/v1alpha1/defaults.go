package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Default fills the unset fields of obj with their defaults. It is the one
// place defaults are applied, for manifests and custom resources alike.
func Default(obj Object) {
	switch o := obj.(type) {
	case *EdgeProfile:
		defaultProfile(&o.Spec)
	case *BondModeFlipPlan:
		defaultBondFlip(&o.Spec)
	case *ReplicationUpgrade:
		s := &o.Spec
		setInt32(&s.BatchSize, DefaultBatchSize)
		setDuration(&s.SyncTimeout, DefaultSyncTimeout)
		if s.StallTimeout == nil {
			s.StallTimeout = &metav1.Duration{Duration: DefaultStallTimeout}
		}
	case *VMVolumeMigration:
		s := &o.Spec
		if s.Mode == "" {
			s.Mode = MigrationAuto
		}
		setBool(&s.Snapshots.Before, true)
		setBool(&s.Snapshots.After, true)
		setBool(&s.VerifyChecksums, true)
	case *FleetSource:
		s := &o.Spec
		if s.Branch == "" {
			s.Branch = "main"
		}
		if s.TrustRoot.Key == "" {
			s.TrustRoot.Key = "trust.yaml"
		}
		setDuration(&s.Interval, DefaultInterval)
	}
}

func defaultProfile(s *EdgeProfileSpec) {
	if s.Health.MinReadyNodes == nil {
		n := int32(len(s.Nodes) - 1)
		if n < 0 {
			n = 0
		}
		s.Health.MinReadyNodes = &n
	}
	setBool(&s.Health.RequireDRBDUpToDate, true)
}

func defaultBondFlip(s *BondModeFlipPlanSpec) {
	setInt32(&s.MaxUnavailable, DefaultMaxUnavailable)
	setDuration(&s.RevertAfter, DefaultRevertAfter)
	setDuration(&s.Probes.Timeout, DefaultProbeTimeout)
	setBool(&s.Probes.APIServer, true)
	if s.VMProtection == "" {
		s.VMProtection = VMProtectionLiveMigrate
	}
}

func setInt32(p *int32, v int32) {
	if *p == 0 {
		*p = v
	}
}

func setDuration(p *metav1.Duration, v time.Duration) {
	if p.Duration == 0 {
		p.Duration = v
	}
}

func setBool(p **bool, v bool) {
	if *p == nil {
		*p = &v
	}
}
