package nodetask

import (
	"context"
	"fmt"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// MinTokenLifetime is the shortest token the API server issues.
const MinTokenLifetime = 10 * time.Minute

// tokenMargin is how long an attestation stays valid past the task's
// deadline: long enough for an agent that restarts around the deadline to
// check the task it resumes.
const tokenMargin = 10 * time.Minute

// Attester proves to the agents that a NodeTask is the reconciler's.
type Attester interface {
	// Attest returns the value of the task's AnnotationAttestation.
	Attest(ctx context.Context, task *v1.NodeTask) (string, error)
}

// TokenAttester attests a task with a token of the reconciler's own
// ServiceAccount (the TokenRequest API) whose only audience is the task's
// AttestationAudience, valid until shortly after the task's deadline.
type TokenAttester struct {
	// Client creates the TokenRequest.
	Client client.Client
	// Namespace and ServiceAccount name the reconciler's account.
	Namespace, ServiceAccount string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Attest implements Attester.
func (a *TokenAttester) Attest(ctx context.Context, task *v1.NodeTask) (string, error) {
	aud, err := task.AttestationAudience()
	if err != nil {
		return "", err
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	life := max(task.Spec.Deadline.Sub(now())+tokenMargin, MinTokenLifetime)
	seconds := int64(life / time.Second)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: a.ServiceAccount}}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         []string{aud},
		ExpirationSeconds: &seconds,
	}}
	if err := a.Client.SubResource("token").Create(ctx, sa, req); err != nil {
		return "", fmt.Errorf("attest NodeTask %s: request a token for ServiceAccount %s/%s: %w", task.Name, a.Namespace, a.ServiceAccount, err)
	}
	if req.Status.Token == "" {
		return "", fmt.Errorf("attest NodeTask %s: the API server returned no token for ServiceAccount %s/%s", task.Name, a.Namespace, a.ServiceAccount)
	}
	return req.Status.Token, nil
}

// ServiceAccountUser is the user name of a ServiceAccount.
func ServiceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// SplitServiceAccountUser returns the namespace and name of a
// ServiceAccount's user name; ok is false for any other user.
func SplitServiceAccountUser(user string) (namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(user, "system:serviceaccount:")
	if !found {
		return "", "", false
	}
	namespace, name, found = strings.Cut(rest, ":")
	if !found || namespace == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return namespace, name, true
}

// Self asks the API server who c authenticates as (a SelfSubjectReview).
func Self(ctx context.Context, c client.Client) (string, error) {
	r := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, r); err != nil {
		return "", fmt.Errorf("ask the API server who this process is (SelfSubjectReview): %w", err)
	}
	if r.Status.UserInfo.Username == "" {
		return "", fmt.Errorf("the API server's SelfSubjectReview names no user")
	}
	return r.Status.UserInfo.Username, nil
}
