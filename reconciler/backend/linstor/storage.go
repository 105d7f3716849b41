package linstor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/LINBIT/golinstor/client"

	"github.com/nodewright/nodewright/reconciler/backend"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// DefaultTimeout bounds every call to the controller unless
// Config.Timeout says otherwise.
const DefaultTimeout = 30 * time.Second

// LINSTOR's default place count, for a resource group that sets none.
const defaultPlaceCount = 2

// Config says how to reach the LINSTOR controller.
type Config struct {
	// Controllers are the controllers' URLs (http:// or https://; LINSTOR's
	// ports 3370 and 3371 when none is given). golinstor tries the next
	// one when a controller cannot be reached.
	Controllers []string
	// Timeout bounds every call (DefaultTimeout when zero).
	Timeout time.Duration
	// CAFile is the PEM bundle the controller's certificate is checked
	// against (the system's roots when empty).
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key, read
	// again at every TLS handshake; both or neither.
	CertFile, KeyFile string
	// Username and PasswordFile are HTTP basic auth credentials; the
	// password file is read once, by New.
	Username, PasswordFile string
	// BearerTokenFile holds a bearer token (plain, or JSON with a "token"
	// key), read once, by New. It excludes basic auth.
	BearerTokenFile string
}

// Storage is the LINSTOR backend.Storage. It is safe for concurrent use.
type Storage struct {
	c       *client.Client
	timeout time.Duration
}

var _ backend.Storage = (*Storage)(nil)

// New builds the golinstor client cfg describes. It reads the CA,
// password and token files and checks the client certificate, but does
// not reach the controller.
func New(cfg Config) (*Storage, error) {
	if len(cfg.Controllers) == 0 {
		return nil, errors.New("linstor: no controller URL")
	}
	tlsSet := cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != ""
	for _, c := range cfg.Controllers {
		u, err := url.Parse(c)
		switch {
		case err != nil:
			return nil, fmt.Errorf("linstor: controller %q: %w", c, err)
		case u.Scheme != "http" && u.Scheme != "https":
			return nil, fmt.Errorf("linstor: controller %q is not an http or https URL", c)
		case u.Host == "":
			return nil, fmt.Errorf("linstor: controller %q has no host", c)
		case tlsSet && u.Scheme != "https":
			return nil, fmt.Errorf("linstor: controller %q is not https, but TLS files are set", c)
		}
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("linstor: timeout %s is negative", cfg.Timeout)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if cfg.BearerTokenFile != "" && (cfg.Username != "" || cfg.PasswordFile != "") {
		return nil, errors.New("linstor: a bearer token file and basic auth exclude each other")
	}
	if (cfg.Username == "") != (cfg.PasswordFile == "") {
		return nil, errors.New("linstor: basic auth needs both a username and a password file")
	}
	tlsConfig, err := clientTLS(cfg)
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	httpClient := &http.Client{Timeout: timeout, Transport: &recordingTransport{base: transport}}

	basic := &client.BasicAuthCfg{}
	if cfg.Username != "" {
		pw, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("linstor: password file: %w", err)
		}
		basic = &client.BasicAuthCfg{Username: cfg.Username, Password: strings.TrimRight(string(pw), "\r\n")}
	}
	// Every setting golinstor would take from the environment is set
	// here, so the process's LS_* variables change nothing.
	opts := []client.Option{
		client.Controllers(cfg.Controllers),
		client.HTTPClient(httpClient),
		client.BasicAuth(basic),
		client.BearerToken(""),
		client.Log(nil),
		client.UserAgent("nodewright"),
	}
	if cfg.BearerTokenFile != "" {
		opts = append(opts, client.BearerTokenFromFile(cfg.BearerTokenFile))
	}
	c, err := client.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("linstor: %w", err)
	}
	return &Storage{c: c, timeout: timeout}, nil
}

// clientTLS returns the TLS settings of cfg, or nil for the defaults:
// the CA bundle is read now, the client certificate and key at every
// handshake (they are checked now, so a bad pair fails at start).
func clientTLS(cfg Config) (*tls.Config, error) {
	if cfg.CAFile == "" && cfg.CertFile == "" && cfg.KeyFile == "" {
		return nil, nil
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, errors.New("linstor: a client certificate needs both a certificate and a key file")
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("linstor: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("linstor: CA file %s holds no PEM certificate", cfg.CAFile)
		}
		t.RootCAs = pool
	}
	if cfg.CertFile != "" {
		load := func() (*tls.Certificate, error) {
			pair, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("linstor: client certificate: %w", err)
			}
			return &pair, nil
		}
		if _, err := load(); err != nil {
			return nil, err
		}
		t.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return load() }
	}
	return t, nil
}

// call runs one request to the controller under the call timeout and
// classifies its error; a 404 without details names what (kind, name).
func (s *Storage) call(ctx context.Context, op, kind, name string, fn func(ctx context.Context) error) error {
	_, err := s.exchange(ctx, op, kind, name, false, fn)
	return err
}

// exchange is call, keeping the response body when keep is set.
// A name that is not a LINSTOR name (letters, digits, "_" and "-", at
// most 48) is refused before any request, so no name from a manifest or a
// status can reach another path or query of the controller's API.
func (s *Storage) exchange(ctx context.Context, op, kind, name string, keep bool, fn func(ctx context.Context) error) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if name != "" && !v1.IsLINSTORName(name) {
		return nil, &backend.RefusedError{Op: op, Message: fmt.Sprintf("%s name %q is not a LINSTOR name (letters, digits, _ and -, at most 48)", kind, name)}
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	x := &record{keep: keep}
	err := fn(context.WithValue(cctx, recordKey{}, x))
	if err == nil {
		return x.body.Bytes(), nil
	}
	if ctx.Err() != nil {
		// The caller gave up (the reconciler stops): not the controller's fault.
		return nil, fmt.Errorf("%s: %w", op, ctx.Err())
	}
	status, body := x.result()
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s: %w", s.timeout, err)
	}
	if status == http.StatusNotFound {
		var rcs client.ApiCallError
		if json.Unmarshal(body, &rcs) == nil && len(rcs) > 0 {
			err = rcs
		}
	}
	if status != 0 {
		err = &statusError{Status: status, Err: err}
	}
	err = classify(op, err)
	var nf *backend.NotFoundError
	if errors.As(err, &nf) && nf.Kind == "" {
		nf.Kind, nf.Name = kind, name
	}
	return nil, err
}

// ResourceGroup returns the group, its resources (sorted by name) and
// their diskful replicas (sorted by node) with their peers (sorted by
// node), in three requests whatever the group's size.
func (s *Storage) ResourceGroup(ctx context.Context, name string) (*backend.ResourceGroup, error) {
	var rg client.ResourceGroup
	if err := s.call(ctx, "get resource group "+name, "resource group", name, func(ctx context.Context) (err error) {
		rg, err = s.c.ResourceGroups.Get(ctx, name)
		return err
	}); err != nil {
		return nil, err
	}
	var rds []client.ResourceDefinitionWithVolumeDefinition
	// No Limit: golinstor sends RDGetAllRequest.Limit as a second offset.
	if err := s.call(ctx, "list resource definitions of "+name, "resource group", name, func(ctx context.Context) (err error) {
		rds, err = s.c.ResourceDefinitions.GetAll(ctx, client.RDGetAllRequest{WithVolumeDefinitions: true})
		return err
	}); err != nil {
		return nil, err
	}
	out := &backend.ResourceGroup{Name: rg.Name, PlaceCount: int(rg.SelectFilter.PlaceCount)}
	if out.Name == "" {
		out.Name = name
	}
	if out.PlaceCount == 0 {
		out.PlaceCount = defaultPlaceCount
	}
	resources := map[string]*backend.Resource{}
	var names []string
	for _, rd := range rds {
		if !strings.EqualFold(rd.ResourceGroupName, name) || hasFlag(rd.Flags, flagsDeleting...) {
			continue
		}
		r := &backend.Resource{Name: rd.Name}
		for _, vd := range rd.VolumeDefinitions {
			r.SizeKiB += int64(vd.SizeKib)
		}
		resources[rd.Name] = r
		names = append(names, rd.Name)
	}
	slices.Sort(names)
	if len(names) > 0 {
		views, err := s.resourceView(ctx, name, names)
		if err != nil {
			return nil, err
		}
		for _, v := range views {
			r, ok := resources[v.Name]
			if !ok || !v.diskful() {
				continue
			}
			r.Replicas = append(r.Replicas, v.replica())
		}
	}
	for _, n := range names {
		r := resources[n]
		slices.SortFunc(r.Replicas, func(a, b backend.Replica) int { return strings.Compare(a.Node, b.Node) })
		out.Resources = append(out.Resources, *r)
	}
	return out, nil
}

// maxFilterLen bounds the resources= query of a resource view; a longer
// list reads every resource and filters here, so the view is always one
// request.
const maxFilterLen = 4000

// resourceView returns the replicas of the named resources (more when
// the list is too long to name), decoded with replication_states.
func (s *Storage) resourceView(ctx context.Context, group string, names []string) ([]viewResource, error) {
	opts := &client.ListOpts{}
	if n := len(strings.Join(names, "&resources=")); n <= maxFilterLen {
		opts.Resource = names
	}
	body, err := s.exchange(ctx, "view resources of "+group, "resource group", group, true, func(ctx context.Context) error {
		_, err := s.c.Resources.GetResourceView(ctx, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	var views []viewResource
	if err := json.Unmarshal(body, &views); err != nil {
		return nil, &backend.TransientError{Op: "view resources of " + group, Err: fmt.Errorf("decoding the answer: %w", err)}
	}
	return views, nil
}

// Place autoplaces each of resources (which must be group's) to count
// diskful replicas, in the group's storage pool when it names one: one
// autoplace per resource, stopping at the first error. A resource at
// count already is left as it is (LINSTOR answers "already deployed").
func (s *Storage) Place(ctx context.Context, group string, resources []string, count int) error {
	if count < 1 {
		return &backend.RefusedError{Op: fmt.Sprintf("place %d replicas in %s", count, group), Message: "a place count is at least 1"}
	}
	if len(resources) == 0 {
		return nil
	}
	var rg client.ResourceGroup
	if err := s.call(ctx, "get resource group "+group, "resource group", group, func(ctx context.Context) (err error) {
		rg, err = s.c.ResourceGroups.Get(ctx, group)
		return err
	}); err != nil {
		return err
	}
	var rds []client.ResourceDefinitionWithVolumeDefinition
	if err := s.call(ctx, "list resource definitions of "+group, "resource group", group, func(ctx context.Context) (err error) {
		rds, err = s.c.ResourceDefinitions.GetAll(ctx, client.RDGetAllRequest{ResourceDefinitions: resources})
		return err
	}); err != nil {
		return err
	}
	groupOf := map[string]string{}
	for _, rd := range rds {
		groupOf[rd.Name] = rd.ResourceGroupName
	}
	for _, res := range resources {
		g, ok := groupOf[res]
		switch {
		case !ok:
			return &backend.NotFoundError{Kind: "resource", Name: res}
		case !strings.EqualFold(g, group):
			return &backend.RefusedError{Op: fmt.Sprintf("autoplace %s to %d replicas", res, count), Message: fmt.Sprintf("resource %s is in resource group %s, not %s", res, g, group)}
		}
	}
	filter := client.AutoSelectFilter{PlaceCount: int32(count), StoragePool: rg.SelectFilter.StoragePool, StoragePoolList: rg.SelectFilter.StoragePoolList}
	for _, res := range resources {
		if err := s.call(ctx, fmt.Sprintf("autoplace %s to %d replicas", res, count), "resource", res, func(ctx context.Context) error {
			return s.c.Resources.Autoplace(ctx, res, client.AutoPlaceRequest{SelectFilter: filter})
		}); err != nil {
			return err
		}
	}
	return nil
}

// SetPlaceCount sets the group's select_filter.place_count, leaving its
// other filter settings as they are.
func (s *Storage) SetPlaceCount(ctx context.Context, group string, count int) error {
	op := fmt.Sprintf("set place count of %s to %d", group, count)
	if count < 1 {
		return &backend.RefusedError{Op: op, Message: "a place count is at least 1"}
	}
	// golinstor always sends select_filter; with every other field empty
	// (omitted), LINSTOR changes the place count only.
	return s.call(ctx, op, "resource group", group, func(ctx context.Context) error {
		return s.c.ResourceGroups.Modify(ctx, group, client.ResourceGroupModify{SelectFilter: client.AutoSelectFilter{PlaceCount: int32(count)}})
	})
}

// StoragePools reports every node the controller knows, sorted by name,
// with the named pool's free capacity on it.
func (s *Storage) StoragePools(ctx context.Context, pool string) ([]backend.NodePool, error) {
	var nodes []client.Node
	if err := s.call(ctx, "list nodes", "node", "", func(ctx context.Context) (err error) {
		nodes, err = s.c.Nodes.GetAll(ctx, &client.ListOpts{})
		return err
	}); err != nil {
		return nil, err
	}
	var pools []client.StoragePool
	if err := s.call(ctx, "list storage pool "+pool, "storage pool", pool, func(ctx context.Context) (err error) {
		pools, err = s.c.Nodes.GetStoragePoolView(ctx, &client.ListOpts{StoragePool: []string{pool}})
		return err
	}); err != nil {
		return nil, err
	}
	free := map[string]int64{}
	for _, p := range pools {
		if p.StoragePoolName == pool {
			free[p.NodeName] = p.FreeCapacity
		}
	}
	out := make([]backend.NodePool, 0, len(nodes))
	for _, n := range nodes {
		kib, has := free[n.Name]
		out = append(out, backend.NodePool{Node: n.Name, Online: n.ConnectionStatus == "ONLINE", Status: n.ConnectionStatus, HasPool: has, FreeKiB: kib})
	}
	slices.SortFunc(out, func(a, b backend.NodePool) int { return strings.Compare(a.Node, b.Node) })
	return out, nil
}
