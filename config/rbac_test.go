package config_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The two service accounts of config/rbac.
const (
	reconciler = "nodewright-reconciler"
	agent      = "nodewright-agent"
)

// accountNamespaces is the namespace of each service account: the agent's
// is its own, and its namespaced grants are still in nodewright-system,
// where the NodeTasks are.
var accountNamespaces = map[string]string{reconciler: namespace, agent: agentNamespace}

// grant is one line of the RBAC the accounts must have: verbs on a resource
// (with "/status" for the subresource) of an API group, in the namespace, or
// cluster-wide when namespace is "", on the objects named in names (space
// separated; "" is any object).
type grant struct {
	account   string
	namespace string
	group     string
	resource  string
	verbs     string
	names     string
}

// grants is the whole of what config/rbac may grant: the reconciler owns
// intent, the agent reports. Anything more fails
// TestRBACGrantsExactlyTheseRules; anything less fails the access reviews.
// The agent's grant on NodewrightAgentStatuses is any node's: RBAC cannot
// narrow it to its own, which the webhook does (reconciler/admission's
// tests, and test/e2e's TestAgentWritesOnlyItsNodesStatus on a real API
// server).
var grants = []grant{
	// The reconciler, in its namespace.
	{reconciler, namespace, "nodewright.io", "fleetsources", "get list watch patch", ""},
	{reconciler, namespace, "nodewright.io", "fleetsources/status", "get update patch", ""},
	{reconciler, namespace, "nodewright.io", "bondmodeflipplans", "get list watch create update patch delete", ""},
	{reconciler, namespace, "nodewright.io", "bondmodeflipplans/status", "get update patch", ""},
	{reconciler, namespace, "nodewright.io", "replicationupgrades", "get list watch create update patch delete", ""},
	{reconciler, namespace, "nodewright.io", "replicationupgrades/status", "get update patch", ""},
	{reconciler, namespace, "nodewright.io", "vmvolumemigrations", "get list watch create update patch delete", ""},
	{reconciler, namespace, "nodewright.io", "vmvolumemigrations/status", "get update patch", ""},
	{reconciler, namespace, "nodewright.io", "nodetasks", "get list watch create delete deletecollection", ""},
	{reconciler, namespace, "", "secrets", "get", ""},
	{reconciler, namespace, "", "secrets", "create", ""},
	{reconciler, namespace, "", "secrets", "update patch", "nodewright-webhook-cert"},
	{reconciler, namespace, "", "serviceaccounts/token", "create", "nodewright-reconciler"},
	{reconciler, namespace, "", "events", "create patch", ""},
	{reconciler, namespace, "coordination.k8s.io", "leases", "get list watch create update patch delete", ""},
	// The reconciler, cluster-wide: cluster-scoped resources only.
	{reconciler, "", "nodewright.io", "nodewrightclusters", "get list watch create update patch", ""},
	{reconciler, "", "nodewright.io", "nodewrightclusters/status", "get update patch", ""},
	{reconciler, "", "nodewright.io", "edgeprofiles", "get list watch create update patch", ""},
	{reconciler, "", "nodewright.io", "nodewrightagentstatuses", "get list watch", ""},
	{reconciler, "", "", "nodes", "get list watch", ""},
	// VM protection on KubeVirt: cordon and uncordon, migrate, stop and start.
	{reconciler, "", "", "nodes", "patch", ""},
	{reconciler, "", "kubevirt.io", "virtualmachineinstances", "get list watch", ""},
	{reconciler, "", "kubevirt.io", "virtualmachines", "get list watch patch", ""},
	{reconciler, "", "kubevirt.io", "virtualmachineinstancemigrations", "get list watch create", ""},
	{reconciler, "", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "get update patch", "nodewright-validating"},
	{reconciler, "", "authentication.k8s.io", "selfsubjectreviews", "create", ""},
	// The agent.
	{agent, namespace, "nodewright.io", "nodetasks", "get list watch", ""},
	{agent, namespace, "nodewright.io", "nodetasks/status", "get update patch", ""},
	{agent, namespace, "nodewright.io", "bondmodeflipplans", "get", ""},
	{agent, namespace, "nodewright.io", "replicationupgrades", "get", ""},
	{agent, namespace, "nodewright.io", "vmvolumemigrations", "get", ""},
	{agent, "", "nodewright.io", "nodewrightagentstatuses", "get create update patch", ""},
	{agent, "", "nodewright.io", "nodewrightagentstatuses/status", "update patch", ""},
	{agent, "", "", "nodes", "get", ""},
	{agent, "", "authentication.k8s.io", "tokenreviews", "create", ""},
}

// permission is one verb of a grant, on one named object or ("") on any.
type permission struct {
	account, namespace, group, resource, verb, name string
}

func (p permission) String() string {
	where := "cluster-wide"
	if p.namespace != "" {
		where = "in " + p.namespace
	}
	group := p.group
	if group == "" {
		group = "core"
	}
	what := p.resource
	if p.name != "" {
		what += " " + p.name
	}
	return fmt.Sprintf("%s may %s %s (%s) %s", p.account, p.verb, what, group, where)
}

// permissions expands grants into one permission per verb and name.
func permissions(gs []grant) []permission {
	var ps []permission
	for _, g := range gs {
		names := strings.Fields(g.names)
		if len(names) == 0 {
			names = []string{""}
		}
		for _, verb := range strings.Fields(g.verbs) {
			for _, name := range names {
				ps = append(ps, permission{g.account, g.namespace, g.group, g.resource, verb, name})
			}
		}
	}
	return ps
}

// renderedPermissions expands the rendered bindings into the permissions
// they give each service account, one per resource name where a rule names
// objects, and fails on anything that cannot be expanded exactly:
// wildcards, non-resource URLs, aggregation, or subjects other than the two
// accounts in their namespaces.
func renderedPermissions(t *testing.T, objs []*unstructured.Unstructured) []permission {
	t.Helper()
	rules := map[string][]rbacv1.PolicyRule{} // by kind/namespace/name of the role
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRole":
			role := &rbacv1.ClusterRole{}
			typed(t, o, role)
			assert.Nil(t, role.AggregationRule, "ClusterRole %s aggregates nothing", role.Name)
			rules["ClusterRole//"+role.Name] = role.Rules
		case "Role":
			role := &rbacv1.Role{}
			typed(t, o, role)
			rules["Role/"+role.Namespace+"/"+role.Name] = role.Rules
		}
	}

	var ps []permission
	bound := map[string]bool{}
	for _, o := range objs {
		var subjects []rbacv1.Subject
		var ref rbacv1.RoleRef
		var scope string
		switch o.GetKind() {
		case "ClusterRoleBinding":
			b := &rbacv1.ClusterRoleBinding{}
			typed(t, o, b)
			subjects, ref = b.Subjects, b.RoleRef
		case "RoleBinding":
			b := &rbacv1.RoleBinding{}
			typed(t, o, b)
			subjects, ref, scope = b.Subjects, b.RoleRef, b.Namespace
		default:
			continue
		}
		key := ref.Kind + "/" + scope + "/" + ref.Name
		if ref.Kind == "ClusterRole" {
			key = "ClusterRole//" + ref.Name
		}
		roleRules, ok := rules[key]
		require.True(t, ok, "%s %s refers to %s, which is rendered", o.GetKind(), o.GetName(), key)
		bound[key] = true
		for _, s := range subjects {
			require.Equal(t, rbacv1.ServiceAccountKind, s.Kind, "%s %s binds service accounts only", o.GetKind(), o.GetName())
			require.Contains(t, []string{reconciler, agent}, s.Name)
			require.Equal(t, accountNamespaces[s.Name], s.Namespace, "%s %s binds %s in its own namespace", o.GetKind(), o.GetName(), s.Name)
			for _, r := range roleRules {
				assert.Empty(t, r.NonResourceURLs, "%s: no non-resource URLs", key)
				assert.NotContains(t, r.ResourceNames, "", "%s: no empty resource name", key)
				names := r.ResourceNames
				if len(names) == 0 {
					names = []string{""} // any object
				}
				for _, group := range r.APIGroups {
					for _, res := range r.Resources {
						for _, verb := range r.Verbs {
							assert.NotContains(t, []string{group, res, verb}, "*", "%s: no wildcards", key)
							// A create of a resource, a list, a watch or a
							// deletecollection names no object, so
							// resourceNames would make the rule useless (a
							// subresource's create, such as a token's, does).
							if len(r.ResourceNames) > 0 && slices.Contains([]string{"list", "watch", "deletecollection"}, verb) ||
								len(r.ResourceNames) > 0 && verb == "create" && !strings.Contains(res, "/") {
								t.Errorf("%s: resourceNames cannot narrow %s of %s", key, verb, res)
							}
							for _, name := range names {
								ps = append(ps, permission{s.Name, scope, group, res, verb, name})
							}
						}
					}
				}
			}
		}
	}
	for key := range rules {
		assert.True(t, bound[key], "%s is bound to an account", key)
	}
	return ps
}

func TestRBACGrantsExactlyTheseRules(t *testing.T) {
	got := renderedPermissions(t, render(t, "config/default"))
	var gotS, wantS []string
	for _, p := range got {
		gotS = append(gotS, p.String())
	}
	for _, p := range permissions(grants) {
		wantS = append(wantS, p.String())
	}
	slices.Sort(gotS)
	slices.Sort(wantS)
	assert.Equal(t, wantS, slices.Compact(gotS), "config/rbac grants exactly the table in rbac_test.go")
}

// access asks the API server's authorizer whether the service account (in
// its namespace, accountNamespaces) may do verb on
// group/resource[/subresource] in the namespace where ("" asks for all
// namespaces, or a cluster-scoped resource), on the object name ("" asks
// for any object, as a create, a list or a watch does). The review carries
// the groups the API server gives every service account token, so grants
// made to all authenticated users count too.
func access(ctx context.Context, account, where, verb, group, resource, name string) (bool, string, error) {
	res, sub, _ := strings.Cut(resource, "/")
	home, ok := accountNamespaces[account]
	if !ok {
		return false, "", fmt.Errorf("no namespace known for the service account %q", account)
	}
	review := &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   "system:serviceaccount:" + home + ":" + account,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + home, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace:   where,
				Verb:        verb,
				Group:       group,
				Resource:    res,
				Subresource: sub,
				Name:        name,
			},
		},
	}
	if err := env.Client.Create(ctx, review); err != nil {
		return false, "", err
	}
	return review.Status.Allowed, review.Status.Reason, nil
}

// installed is the result of installing config/default once.
var installed struct {
	once sync.Once
	err  error
}

// installDefault creates every object config/default renders on the shared
// API server (the CRDs are there already from TestMain), once per test
// binary, and waits until the authorizer allows every grant, so a denial
// seen afterwards is a real one and not a cache lagging behind.
func installDefault(t *testing.T) {
	t.Helper()
	installed.once.Do(func() { installed.err = install(t) })
	require.NoError(t, installed.err, "installing config/default")
}

func install(t *testing.T) error {
	ctx := context.Background()
	for _, o := range render(t, "config/default") {
		err := env.Client.Create(ctx, o, client.FieldValidation("Strict"))
		if apierrors.IsAlreadyExists(err) && o.GetKind() == "CustomResourceDefinition" {
			continue
		}
		if err != nil {
			return fmt.Errorf("creating %s: %w", id(o), err)
		}
	}
	// The RBAC authorizer reads roles and bindings from an informer cache:
	// poll each grant until it is visible, with a deadline.
	for _, p := range permissions(grants) {
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			allowed, _, err := access(ctx, p.account, p.namespace, p.verb, p.group, p.resource, p.name)
			return allowed, err
		})
		if err != nil {
			return fmt.Errorf("waiting for the authorizer to allow: %s: %w", p, err)
		}
	}
	return nil
}

func TestServiceAccountsMayDoWhatTheyNeed(t *testing.T) {
	installDefault(t)
	for _, p := range permissions(grants) {
		t.Run(p.String(), func(t *testing.T) {
			allowed, reason, err := access(t.Context(), p.account, p.namespace, p.verb, p.group, p.resource, p.name)
			require.NoError(t, err)
			assert.True(t, allowed, "denied: %s", reason)
		})
	}
}

func TestNamespacedGrantsStayInTheNamespace(t *testing.T) {
	installDefault(t)
	for _, p := range permissions(grants) {
		if p.namespace == "" {
			continue
		}
		for _, elsewhere := range []string{"default", "kube-system", agentNamespace, ""} {
			if elsewhere == p.namespace {
				continue
			}
			outside := p
			outside.namespace = elsewhere
			t.Run(outside.String(), func(t *testing.T) {
				allowed, _, err := access(t.Context(), outside.account, outside.namespace, outside.verb, outside.group, outside.resource, outside.name)
				require.NoError(t, err)
				assert.False(t, allowed)
			})
		}
	}
}

// forbidden are things the accounts must not be able to do, to any object
// (the review names none). Most are not in grants and so also fail
// TestRBACGrantsExactlyTheseRules; they are asked here of the real
// authorizer, which also weighs the roles every authenticated user has.
var forbidden = []struct {
	name                                      string
	account, namespace, verb, group, resource string
}{
	{"reconciler lists secrets", reconciler, namespace, "list", "", "secrets"},
	{"reconciler watches secrets", reconciler, namespace, "watch", "", "secrets"},
	{"reconciler gets secrets in another namespace", reconciler, "default", "get", "", "secrets"},
	{"reconciler gets secrets cluster-wide", reconciler, "", "get", "", "secrets"},
	{"reconciler writes secrets", reconciler, namespace, "update", "", "secrets"},
	{"reconciler deletes secrets", reconciler, namespace, "delete", "", "secrets"},
	{"reconciler creates secrets elsewhere", reconciler, "default", "create", "", "secrets"},
	{"reconciler reports NodeTask status (update)", reconciler, namespace, "update", "nodewright.io", "nodetasks/status"},
	{"reconciler reports NodeTask status (patch)", reconciler, namespace, "patch", "nodewright.io", "nodetasks/status"},
	{"reconciler rewrites a NodeTask", reconciler, namespace, "update", "nodewright.io", "nodetasks"},
	{"reconciler creates a FleetSource", reconciler, namespace, "create", "nodewright.io", "fleetsources"},
	{"reconciler edits a FleetSource", reconciler, namespace, "update", "nodewright.io", "fleetsources"},
	{"reconciler deletes a FleetSource", reconciler, namespace, "delete", "nodewright.io", "fleetsources"},
	{"reconciler reads FleetSources elsewhere", reconciler, "default", "get", "nodewright.io", "fleetsources"},
	{"reconciler creates operations elsewhere", reconciler, "default", "create", "nodewright.io", "bondmodeflipplans"},
	{"reconciler deletes a NodewrightCluster", reconciler, "", "delete", "nodewright.io", "nodewrightclusters"},
	{"reconciler writes agent statuses", reconciler, "", "update", "nodewright.io", "nodewrightagentstatuses/status"},
	{"reconciler deletes agent statuses", reconciler, "", "delete", "nodewright.io", "nodewrightagentstatuses"},
	{"reconciler deletes an EdgeProfile", reconciler, "", "delete", "nodewright.io", "edgeprofiles"},
	{"reconciler deletes nodes", reconciler, "", "delete", "", "nodes"},
	{"reconciler updates nodes (it patches them to cordon)", reconciler, "", "update", "", "nodes"},
	{"reconciler writes node status", reconciler, "", "patch", "", "nodes/status"},
	{"reconciler creates pods", reconciler, namespace, "create", "", "pods"},
	{"reconciler evicts pods", reconciler, namespace, "create", "", "pods/eviction"},
	{"reconciler lists pods", reconciler, "", "list", "", "pods"},
	{"reconciler reads its ConfigMap through the API", reconciler, namespace, "get", "", "configmaps"},
	{"reconciler mints tokens", reconciler, namespace, "create", "", "serviceaccounts/token"},
	{"reconciler creates namespaces", reconciler, "", "create", "", "namespaces"},
	{"reconciler takes kube-system leases", reconciler, "kube-system", "update", "coordination.k8s.io", "leases"},
	{"reconciler writes events elsewhere", reconciler, "default", "create", "", "events"},
	{"reconciler writes events.k8s.io events", reconciler, namespace, "create", "events.k8s.io", "events"},
	{"reconciler creates Deployments", reconciler, namespace, "create", "apps", "deployments"},
	{"reconciler creates DaemonSets", reconciler, namespace, "create", "apps", "daemonsets"},
	{"reconciler creates Jobs", reconciler, namespace, "create", "batch", "jobs"},
	{"reconciler creates ClusterRoles", reconciler, "", "create", "rbac.authorization.k8s.io", "clusterroles"},
	{"reconciler escalates Roles", reconciler, namespace, "escalate", "rbac.authorization.k8s.io", "roles"},
	{"reconciler binds roles", reconciler, namespace, "bind", "rbac.authorization.k8s.io", "roles"},
	{"reconciler installs CRDs", reconciler, "", "create", "apiextensions.k8s.io", "customresourcedefinitions"},
	{"reconciler deletes VMs", reconciler, "", "delete", "kubevirt.io", "virtualmachines"},
	{"reconciler creates VMs", reconciler, "", "create", "kubevirt.io", "virtualmachines"},
	{"reconciler deletes VMIs", reconciler, "", "delete", "kubevirt.io", "virtualmachineinstances"},
	{"reconciler patches VMIs", reconciler, "", "patch", "kubevirt.io", "virtualmachineinstances"},
	{"reconciler deletes migrations", reconciler, "", "delete", "kubevirt.io", "virtualmachineinstancemigrations"},
	{"reconciler writes VM status", reconciler, "", "patch", "kubevirt.io", "virtualmachines/status"},
	{"reconciler impersonates", reconciler, "", "impersonate", "", "users"},
	{"reconciler creates webhook configurations", reconciler, "", "create", "admissionregistration.k8s.io", "validatingwebhookconfigurations"},
	{"reconciler lists webhook configurations", reconciler, "", "list", "admissionregistration.k8s.io", "validatingwebhookconfigurations"},
	{"reconciler creates mutating webhooks", reconciler, "", "create", "admissionregistration.k8s.io", "mutatingwebhookconfigurations"},
	{"reconciler reviews tokens", reconciler, "", "create", "authentication.k8s.io", "tokenreviews"},
	{"agent creates NodeTasks", agent, namespace, "create", "nodewright.io", "nodetasks"},
	{"agent rewrites NodeTask intent", agent, namespace, "update", "nodewright.io", "nodetasks"},
	{"agent deletes NodeTasks", agent, namespace, "delete", "nodewright.io", "nodetasks"},
	{"agent reports NodeTasks elsewhere", agent, "default", "update", "nodewright.io", "nodetasks/status"},
	{"agent lists agent statuses", agent, "", "list", "nodewright.io", "nodewrightagentstatuses"},
	{"agent deletes agent statuses", agent, "", "delete", "nodewright.io", "nodewrightagentstatuses"},
	{"agent lists nodes", agent, "", "list", "", "nodes"},
	{"agent patches nodes", agent, "", "patch", "", "nodes"},
	{"agent gets secrets", agent, namespace, "get", "", "secrets"},
	{"agent reads FleetSources", agent, namespace, "get", "nodewright.io", "fleetsources"},
	{"agent drives operations", agent, namespace, "update", "nodewright.io", "bondmodeflipplans/status"},
	{"agent creates operations", agent, namespace, "create", "nodewright.io", "bondmodeflipplans"},
	{"agent lists operations", agent, namespace, "list", "nodewright.io", "replicationupgrades"},
	{"agent watches operations", agent, namespace, "watch", "nodewright.io", "vmvolumemigrations"},
	{"agent mints tokens", agent, namespace, "create", "", "serviceaccounts/token"},
	{"agent writes webhook configurations", agent, "", "update", "admissionregistration.k8s.io", "validatingwebhookconfigurations"},
	{"agent writes the cluster rollup", agent, "", "update", "nodewright.io", "nodewrightclusters"},
	{"agent creates pods", agent, namespace, "create", "", "pods"},
	{"agent takes the reconciler's lease", agent, namespace, "update", "coordination.k8s.io", "leases"},
	{"agent updates NodeTasks (patch)", agent, namespace, "patch", "nodewright.io", "nodetasks"},
	{"agent deletes all NodeTasks", agent, namespace, "deletecollection", "nodewright.io", "nodetasks"},
	{"agent lists secrets", agent, namespace, "list", "", "secrets"},
	{"agent gets secrets cluster-wide", agent, "", "get", "", "secrets"},
	{"agent writes operations", agent, namespace, "update", "nodewright.io", "bondmodeflipplans"},
	{"agent writes operation status (replication)", agent, namespace, "patch", "nodewright.io", "replicationupgrades/status"},
	{"agent deletes operations", agent, namespace, "delete", "nodewright.io", "vmvolumemigrations"},
	// Its own namespace grants it nothing.
	{"agent gets secrets in its namespace", agent, agentNamespace, "get", "", "secrets"},
	{"agent creates pods in its namespace", agent, agentNamespace, "create", "", "pods"},
	{"agent changes its DaemonSet", agent, agentNamespace, "update", "apps", "daemonsets"},
	{"agent mints tokens in its namespace", agent, agentNamespace, "create", "", "serviceaccounts/token"},
	{"agent creates NodeTasks in its namespace", agent, agentNamespace, "create", "nodewright.io", "nodetasks"},
	{"agent relabels its namespace", agent, "", "patch", "", "namespaces"},
}

// forbiddenObjects are things the accounts must not do to one named object,
// next to grants that name other objects or none.
var forbiddenObjects = []struct {
	name                                              string
	account, namespace, verb, group, resource, object string
}{
	{"reconciler updates the trust root", reconciler, namespace, "update", "", "secrets", "nodewright-trust-root"},
	{"reconciler patches another Secret", reconciler, namespace, "patch", "", "secrets", "other"},
	{"reconciler deletes the webhook certificate", reconciler, namespace, "delete", "", "secrets", "nodewright-webhook-cert"},
	{"reconciler mints the agent's token", reconciler, namespace, "create", "", "serviceaccounts/token", agent},
	{"reconciler mints the agent's token in the agent's namespace", reconciler, agentNamespace, "create", "", "serviceaccounts/token", agent},
	{"reconciler mints the default account's token", reconciler, namespace, "create", "", "serviceaccounts/token", "default"},
	{"reconciler reads its own ServiceAccount", reconciler, namespace, "get", "", "serviceaccounts", reconciler},
	{"reconciler updates another webhook configuration", reconciler, "", "update", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "other"},
	{"reconciler patches another webhook configuration", reconciler, "", "patch", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "other"},
	{"reconciler deletes its webhook configuration", reconciler, "", "delete", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "nodewright-validating"},
	{"reconciler patches a mutating webhook of that name", reconciler, "", "patch", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", "nodewright-validating"},
	{"agent mints the reconciler's token", agent, namespace, "create", "", "serviceaccounts/token", reconciler},
	{"agent mints its own token", agent, namespace, "create", "", "serviceaccounts/token", agent},
	{"agent reads the webhook certificate", agent, namespace, "get", "", "secrets", "nodewright-webhook-cert"},
	{"agent updates an operation", agent, namespace, "update", "nodewright.io", "bondmodeflipplans", "bond0-to-lacp"},
	{"agent patches an operation", agent, namespace, "patch", "nodewright.io", "replicationupgrades", "upgrade"},
	{"agent deletes an operation", agent, namespace, "delete", "nodewright.io", "vmvolumemigrations", "migration"},
	{"agent changes the webhook configuration", agent, "", "patch", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "nodewright-validating"},
	{"agent mints its own token in its namespace", agent, agentNamespace, "create", "", "serviceaccounts/token", agent},
	{"agent changes its DaemonSet by name", agent, agentNamespace, "patch", "apps", "daemonsets", "nodewright-agent"},
}

func TestServiceAccountsMayNotDoMore(t *testing.T) {
	installDefault(t)
	for _, f := range forbidden {
		t.Run(f.name, func(t *testing.T) {
			allowed, reason, err := access(t.Context(), f.account, f.namespace, f.verb, f.group, f.resource, "")
			require.NoError(t, err)
			assert.False(t, allowed, "allowed: %s", reason)
		})
	}
	for _, f := range forbiddenObjects {
		t.Run(f.name, func(t *testing.T) {
			allowed, reason, err := access(t.Context(), f.account, f.namespace, f.verb, f.group, f.resource, f.object)
			require.NoError(t, err)
			assert.False(t, allowed, "allowed: %s", reason)
		})
	}
}
