package cluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/reconciler"
	"github.com/nodewright/nodewright/reconciler/admission"
	"github.com/nodewright/nodewright/reconciler/nodetask"
)

// The ServiceAccounts the cluster's reconciler and agents run as, as in
// config/rbac.
const (
	ReconcilerServiceAccount = "nodewright-reconciler"
	AgentServiceAccount      = "nodewright-agent"
)

// serviceAccountConfig is cfg impersonating a ServiceAccount of namespace
// with the groups the API server gives one, plus system:masters: the
// identity is the account's (the webhook and the TokenReviews see its
// name) while RBAC, tested on its own with the shipped roles, stays out of
// the way.
func serviceAccountConfig(cfg *rest.Config, namespace, name string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{
		UserName: nodetask.ServiceAccountUser(namespace, name),
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated", "system:masters"},
	}
	return c
}

// AgentConfig is cfg with the identity of the agent of node in namespace:
// its ServiceAccount, with the node a pod-bound token names.
func AgentConfig(cfg *rest.Config, namespace, node string) *rest.Config {
	return onNode(serviceAccountConfig(cfg, namespace, AgentServiceAccount), node)
}

// PersonConfig is cfg impersonating a person with cluster-admin rights
// (user, in system:masters): not the reconciler, not an agent.
func PersonConfig(cfg *rest.Config, user string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:masters", "system:authenticated"}}
	return c
}

// onNode is an agent's config for node: the API server names the node in
// a pod-bound token's user info, as here.
func onNode(cfg *rest.Config, node string) *rest.Config {
	c := rest.CopyConfig(cfg)
	extra := map[string][]string{}
	for k, v := range c.Impersonate.Extra {
		extra[k] = v
	}
	extra[admission.NodeNameExtra] = []string{node}
	c.Impersonate.Extra = extra
	return c
}

// userOf asks the API server whom cfg authenticates as.
func userOf(ctx context.Context, cfg *rest.Config) (string, error) {
	scheme, err := reconciler.Scheme()
	if err != nil {
		return "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return "", err
	}
	return nodetask.Self(ctx, c)
}

// ensureServiceAccount creates the ServiceAccount a user name names, when
// it is one: the reconciler's tokens are minted for it, and a token of a
// deleted account is not valid.
func ensureServiceAccount(ctx context.Context, c client.Client, user string) error {
	ns, name, ok := nodetask.SplitServiceAccountUser(user)
	if !ok {
		return nil
	}
	err := c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create ServiceAccount %s/%s: %w", ns, name, err)
	}
	return nil
}
