package controlplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
)

// AssetsEnv names the directory that holds kube-apiserver and etcd; it is
// the variable controller-runtime's envtest reads too.
const AssetsEnv = "KUBEBUILDER_ASSETS"

// startTimeout bounds the start of each control-plane process. envtest's
// default of 20 s is tight when several test binaries start their API
// servers at once on a small machine; a start that succeeds is not slowed
// by it. KUBEBUILDER_CONTROLPLANE_START_TIMEOUT still overrides it.
const startTimeout = 90 * time.Second

// Options shape a control plane.
type Options struct {
	// AssetsDir holds kube-apiserver and etcd; "" is DefaultAssetsDir.
	AssetsDir string
	// CRDs and the CRD files in CRDDirs are installed, and served, before
	// Start returns; a missing directory is an error.
	CRDs    []*apiextensionsv1.CustomResourceDefinition
	CRDDirs []string
}

// ControlPlane is a running kube-apiserver and etcd.
type ControlPlane struct {
	// Config reaches the API server as a member of system:masters.
	Config *rest.Config
	// Client is a controller-runtime client without a cache, using Scheme.
	Client client.Client
	// Scheme holds client-go's built-in types and apiextensions.k8s.io/v1.
	// To use typed custom resources, build a client of your own from Config
	// with a scheme that also holds them.
	Scheme *runtime.Scheme
	// CRDs are the CustomResourceDefinitions installed.
	CRDs []*apiextensionsv1.CustomResourceDefinition
	// AssetsDir is the directory kube-apiserver and etcd were run from.
	AssetsDir string

	env *crenvtest.Environment
}

// DefaultAssetsDir is where Start looks for the binaries when
// Options.AssetsDir is empty: $KUBEBUILDER_ASSETS, else the k8s directory
// beside the running executable.
func DefaultAssetsDir() (dir, source string, err error) {
	if dir := os.Getenv(AssetsEnv); dir != "" {
		return dir, AssetsEnv, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", "", fmt.Errorf("%s is unset and the running executable cannot be found (%w): set %s to the directory holding kube-apiserver and etcd", AssetsEnv, err, AssetsEnv)
	}
	return filepath.Join(filepath.Dir(self), "k8s"), "beside the executable, as " + AssetsEnv + " is unset", nil
}

// CheckAssets reports whether both binaries are in dir, with an error
// naming the missing one, where dir came from (source) and how to build it.
func CheckAssets(dir, source string) error {
	for _, name := range []string{"kube-apiserver", "etcd"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
			continue
		}
		return fmt.Errorf("%s is missing from %s (%s): run `make controlplane` to build kube-apiserver and etcd from the Go module proxy", name, dir, source)
	}
	return nil
}

// Start starts kube-apiserver and etcd, installs the CRDs and returns when
// the API server serves them. Stop stops both and removes their
// temporary directories; a failed Start stops whatever had come up.
func Start(o Options) (*ControlPlane, error) {
	dir, source := o.AssetsDir, "Options.AssetsDir"
	if dir == "" {
		var err error
		if dir, source, err = DefaultAssetsDir(); err != nil {
			return nil, err
		}
	}
	if err := CheckAssets(dir, source); err != nil {
		return nil, err
	}
	for _, d := range o.CRDDirs {
		info, err := os.Stat(d)
		if err != nil {
			return nil, fmt.Errorf("CRD directory: %w", err)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("CRD directory %s is not a directory", d)
		}
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building the scheme: %w", err)
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building the scheme: %w", err)
	}
	env := &crenvtest.Environment{
		BinaryAssetsDirectory: dir,
		CRDs:                  o.CRDs,
		CRDDirectoryPaths:     o.CRDDirs,
		ErrorIfCRDPathMissing: len(o.CRDDirs) > 0,
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
	return &ControlPlane{Config: cfg, Client: c, Scheme: scheme, CRDs: env.CRDs, AssetsDir: dir, env: env}, nil
}

// Stop stops the API server and etcd and removes their temporary
// directories; calling it again does nothing.
func (cp *ControlPlane) Stop() error {
	if cp.env == nil {
		return nil
	}
	env := cp.env
	cp.env = nil
	if err := env.Stop(); err != nil {
		return fmt.Errorf("stopping the control plane: %w", err)
	}
	return nil
}

// WriteKubeconfig writes a kubeconfig for an administrator of the API
// server to path (mode 0600), for a process started beside it or a person
// running kubectl.
func (cp *ControlPlane) WriteKubeconfig(path string) error {
	if cp.env == nil {
		return errors.New("control plane: stopped")
	}
	u, err := cp.env.AddUser(crenvtest.User{Name: "nodewright-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("control plane: add user: %w", err)
	}
	data, err := u.KubeConfig()
	if err != nil {
		return fmt.Errorf("control plane: kubeconfig: %w", err)
	}
	return os.WriteFile(path, data, 0o600)
}
