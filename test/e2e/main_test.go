package e2e_test

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/test/envtest"
)

var (
	envOnce sync.Once
	envErr  error
	env     *envtest.Env
	envStop func()
)

// apiServer starts the real kube-apiserver and etcd the first time a test
// needs them (not in TestMain: `go test -fuzz` runs TestMain in every
// fuzz worker) and returns them; TestMain stops them.
func apiServer(tb testing.TB) *envtest.Env {
	tb.Helper()
	envOnce.Do(func() { env, envStop, envErr = envtest.StartForMain("config/crd/bases") })
	if envErr != nil {
		tb.Fatal(envErr)
	}
	return env
}

func TestMain(m *testing.M) {
	// The agents log through controller-runtime's global logger; the
	// stacks give the managers a test logger of their own.
	ctrl.SetLogger(logr.Discard())
	code := m.Run()
	if envStop != nil {
		envStop()
	}
	if envErr != nil {
		fmt.Fprintln(os.Stderr, envErr)
	}
	os.Exit(code)
}

func condition(cs []metav1.Condition, t string) *metav1.Condition {
	for i := range cs {
		if cs[i].Type == t {
			return &cs[i]
		}
	}
	return nil
}

func keyOf(namespace, name string) client.ObjectKey {
	return client.ObjectKey{Namespace: namespace, Name: name}
}

// adminClient returns an administrator's client of the test API server.
func adminClient(tb testing.TB) client.Client {
	tb.Helper()
	return apiServer(tb).Client
}
