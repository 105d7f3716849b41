package webhookcert_test

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/nodewright/nodewright/test/envtest"
)

// The control plane the tests of this package share is started once, by
// the first test that needs it, and stopped in TestMain. It is not started
// in TestMain itself: the fuzz target's worker processes run TestMain too,
// and the unit tests need no API server.
var (
	sharedOnce  sync.Once
	sharedEnv   *envtest.Env
	sharedStop  func()
	sharedError error
)

// apiClient returns a client of the shared control plane (without a
// cache), starting the control plane on first use.
func apiClient(t testing.TB) client.Client {
	t.Helper()
	sharedOnce.Do(func() {
		began := time.Now()
		sharedEnv, sharedStop, sharedError = envtest.StartForMain()
		if sharedError == nil {
			fmt.Fprintf(os.Stderr, "envtest: control plane ready in %s\n", time.Since(began).Round(time.Millisecond))
		}
	})
	if sharedError != nil {
		t.Fatal(sharedError)
	}
	return sharedEnv.Client
}

func TestMain(m *testing.M) {
	// The webhook servers log through controller-runtime's global logger;
	// the Rotators under test log into each test's buffer.
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	if sharedStop != nil {
		sharedStop()
	}
	os.Exit(code)
}
