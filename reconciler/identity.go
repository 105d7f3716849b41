package reconciler

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/reconciler/admission"
	"github.com/nodewright/nodewright/reconciler/nodetask"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/phase"
)

// identityTimeout bounds the SelfSubjectReview at start.
const identityTimeout = 30 * time.Second

// whoAmI asks the API server which user cfg authenticates as, and checks
// it is a ServiceAccount: only a ServiceAccount can mint the tokens that
// attest NodeTasks to the agents.
func whoAmI(cfg *rest.Config, scheme *runtime.Scheme) (user, namespace, name string, err error) {
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return "", "", "", fmt.Errorf("reconciler: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), identityTimeout)
	defer cancel()
	user, err = nodetask.Self(ctx, c)
	if err != nil {
		return "", "", "", fmt.Errorf("reconciler: %w", err)
	}
	namespace, name, ok := nodetask.SplitServiceAccountUser(user)
	if !ok {
		return "", "", "", fmt.Errorf("reconciler: the API server knows this process as %q, which is not a ServiceAccount: the agents run only NodeTasks attested with a ServiceAccount token of the reconciler; run it as its ServiceAccount (in a cluster, the Deployment's), or impersonate one", user)
	}
	return user, namespace, name, nil
}

// AdmissionPolicy is the admission webhook's policy for a reconciler
// running as reconcilerUser with agents running as agentUser, with the
// operation kinds' transition tables telling which phases are in flight
// (an unknown kind or phase is in flight).
func AdmissionPolicy(reconcilerUser, agentUser string, kinds []*operation.Kind) admission.Policy {
	if len(kinds) == 0 {
		kinds = Kinds()
	}
	tables := operation.TablesOf(kinds)
	return admission.Policy{
		Reconciler: reconcilerUser,
		Agent:      agentUser,
		InFlight: func(kind, p string) bool {
			t, ok := tables[kind]
			return !ok || t.InFlight(phase.Phase(p))
		},
	}
}
