package envtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodewright/nodewright/internal/sandbox/controlplane"
)

// modulePath is the path of the main module, whose go.mod ModuleRoot looks
// for (the tools modules under hack/ have go.mod files of their own).
const modulePath = "github.com/nodewright/nodewright"

// Env is a running control plane for tests.
type Env = controlplane.ControlPlane

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
// checking that both binaries are in it: KUBEBUILDER_ASSETS, else
// <module root>/bin/k8s (a test binary runs from a temporary directory, so
// the sandbox's default beside the executable does not apply).
func assetsDir() (string, error) {
	dir, source := os.Getenv(controlplane.AssetsEnv), controlplane.AssetsEnv
	if dir == "" {
		root := ModuleRoot()
		if root == "" {
			return "", fmt.Errorf("%s is unset and no go.mod of %s is above the working directory: set %s to the directory holding kube-apiserver and etcd (`make controlplane` builds them into bin/k8s)", controlplane.AssetsEnv, modulePath, controlplane.AssetsEnv)
		}
		dir, source = filepath.Join(root, "bin", "k8s"), "the default, as "+controlplane.AssetsEnv+" is unset"
	}
	return dir, controlplane.CheckAssets(dir, source)
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

func start(crdDirs []string) (*Env, error) {
	dir, err := assetsDir()
	if err != nil {
		return nil, err
	}
	paths, err := crdPaths(crdDirs)
	if err != nil {
		return nil, err
	}
	return controlplane.Start(controlplane.Options{AssetsDir: dir, CRDDirs: paths})
}
