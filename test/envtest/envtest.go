package envtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
)

// modulePath is the path of the main module, whose go.mod ModuleRoot looks
// for (the tools modules under hack/ have go.mod files of their own).
const modulePath = "github.com/nodewright/nodewright"

// assetsEnv names the directory that holds kube-apiserver and etcd; it is the
// variable controller-runtime's envtest reads too.
const assetsEnv = "KUBEBUILDER_ASSETS"

// startTimeout bounds the start of each control-plane process. envtest's
// default of 20 s is tight when several test binaries start their API servers
// at once on a small machine; a start that succeeds is not slowed by it.
// KUBEBUILDER_CONTROLPLANE_START_TIMEOUT still overrides it.
const startTimeout = 90 * time.Second

// Env is a running control plane for tests.
type Env struct {
	// Config reaches the API server as a member of system:masters.
	Config *rest.Config
	// Client is a controller-runtime client without a cache, using Scheme.
	Client client.Client
	// Scheme holds client-go's built-in types and apiextensions.k8s.io/v1.
	// To use typed custom resources, build a client of your own from Config
	// with a scheme that also holds them.
	Scheme *runtime.Scheme
	// CRDs are the CustomResourceDefinitions installed from the directories
	// given to Start; the API server serves each of them when Start returns.
	CRDs []*apiextensionsv1.CustomResourceDefinition
	// AssetsDir is the directory kube-apiserver and etcd were run from.
	AssetsDir string

	env *crenvtest.Environment
}

// Start starts kube-apiserver and etcd from KUBEBUILDER_ASSETS (or
// <module root>/bin/k8s when unset), installs every CRD found in the given
// directories (e.g. config/crd/bases; a relative directory is taken from the
// module root, and a missing directory is an error) and returns when the API
// server is ready. It fails the test with a message naming `make
// controlplane` when the binaries are missing, and stops everything at
// t.Cleanup.
func Start(t testing.TB, crdDirs ...string) *Env {
	t.Helper()
	e, err := start(crdDirs)
	if err != nil {
		t.Fatalf("envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Errorf("envtest: %v", err)
		}
	})
	return e
}

// StartForMain is Start for TestMain, where no testing.TB exists: a package
// starts one control plane for all its tests. It returns the function that
// stops it, which TestMain calls after m.Run and before exiting.
//
//	func TestMain(m *testing.M) {
//		env, stop, err := envtest.StartForMain("config/crd/bases")
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		testEnv = env
//		code := m.Run()
//		stop()
//		os.Exit(code)
//	}
func StartForMain(crdDirs ...string) (*Env, func(), error) {
	e, err := start(crdDirs)
	if err != nil {
		return nil, nil, fmt.Errorf("envtest: %w", err)
	}
	stop := func() {
		if err := e.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "envtest: %v\n", err)
		}
	}
	return e, stop, nil
}

// Stop stops the API server and etcd and removes their temporary
// directories. Start and StartForMain arrange for it to be called; calling it
// again does nothing.
func (e *Env) Stop() error {
	if e.env == nil {
		return nil
	}
	env := e.env
	e.env = nil
	if err := env.Stop(); err != nil {
		return fmt.Errorf("stopping the control plane: %w", err)
	}
	return nil
}

// ModuleRoot returns the directory of the main module's go.mod, found by
// walking up from the working directory (a test's working directory is its
// package's directory). It returns "" when no such go.mod is found.
func ModuleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if isMainModule(filepath.Join(dir, "go.mod")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// isMainModule reports whether the go.mod file at path declares the main
// module.
func isMainModule(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(data)) {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == modulePath
		}
	}
	return false
}

// assetsDir returns the directory to run the control plane from, after
// checking that both binaries are in it.
func assetsDir() (string, error) {
	dir, source := os.Getenv(assetsEnv), assetsEnv
	if dir == "" {
		root := ModuleRoot()
		if root == "" {
			return "", fmt.Errorf("%s is unset and no go.mod of %s is above the working directory: set %s to the directory holding kube-apiserver and etcd (`make controlplane` builds them into bin/k8s)", assetsEnv, modulePath, assetsEnv)
		}
		dir, source = filepath.Join(root, "bin", "k8s"), "the default, as "+assetsEnv+" is unset"
	}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
			continue
		}
		return "", fmt.Errorf("%s is missing from %s (%s): run `make controlplane` to build kube-apiserver and etcd from the Go module proxy", name, dir, source)
	}
	return dir, nil
}

// crdPaths resolves the CRD directories against the module root and checks
// that each exists.
func crdPaths(dirs []string) ([]string, error) {
	paths := make([]string, 0, len(dirs))
	for _, dir := range dirs {
		if !filepath.IsAbs(dir) {
			root := ModuleRoot()
			if root == "" {
				return nil, fmt.Errorf("CRD directory %q is relative, but no go.mod of %s is above the working directory", dir, modulePath)
			}
			dir = filepath.Join(root, dir)
		}
		info, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("CRD directory: %w", err)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("CRD directory %s is not a directory", dir)
		}
		paths = append(paths, dir)
	}
	return paths, nil
}

// newScheme returns the scheme of Env.Client.
func newScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return scheme, nil
}

func start(crdDirs []string) (*Env, error) {
	dir, err := assetsDir()
	if err != nil {
		return nil, err
	}
	paths, err := crdPaths(crdDirs)
	if err != nil {
		return nil, err
	}
	scheme, err := newScheme()
	if err != nil {
		return nil, fmt.Errorf("building the scheme: %w", err)
	}
	env := &crenvtest.Environment{
		BinaryAssetsDirectory: dir,
		CRDDirectoryPaths:     paths,
		ErrorIfCRDPathMissing: len(paths) > 0,
		Scheme:                scheme,
	}
	if os.Getenv("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT") == "" {
		env.ControlPlaneStartTimeout = startTimeout
	}
	cfg, err := env.Start()
	if err != nil {
		// Start may fail after some processes came up; stop those.
		return nil, errors.Join(fmt.Errorf("starting kube-apiserver and etcd from %s: %w", dir, err), env.Stop())
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("building the client: %w", err), env.Stop())
	}
	return &Env{Config: cfg, Client: c, Scheme: scheme, CRDs: env.CRDs, AssetsDir: dir, env: env}, nil
}

// WriteKubeconfig writes a kubeconfig for an administrator of the test
// API server to path, for a process started beside the tests (or a person
// running kubectl against the demo).
func (e *Env) WriteKubeconfig(path string) error {
	u, err := e.env.AddUser(crenvtest.User{Name: "nodewright-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("envtest: add user: %w", err)
	}
	data, err := u.KubeConfig()
	if err != nil {
		return fmt.Errorf("envtest: kubeconfig: %w", err)
	}
	return os.WriteFile(path, data, 0o600)
}
