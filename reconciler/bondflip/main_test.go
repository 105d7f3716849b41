package bondflip_test

import (
	"testing"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/nodewright/nodewright/reconciler/operation/optest"
)

// The scenario tests share one control plane, started by the first test
// that needs it (the pure tests, TestTableIsValid and TestWaves, need
// none).
var controlPlane optest.ControlPlane

func TestMain(m *testing.M) {
	// The skeleton logs through controller-runtime; no logger was set, so
	// its logs went nowhere already, but with a stack dump on stderr.
	log.SetLogger(logr.Discard())
	controlPlane.Main(m)
}
