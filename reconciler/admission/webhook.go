package admission

import (
	"context"
	"net/http"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	webhookconfig "github.com/nodewright/nodewright/config/webhook"
)

// Path is where the webhook is served, as config/webhook's manifests say.
const Path = webhookconfig.Path

// Handler is the controller-runtime admission handler over a Policy.
type Handler struct {
	// Policy decides.
	Policy Policy
	// Logger records every refusal (who tried what).
	Logger logr.Logger
}

// Handle answers one admission request.
func (h *Handler) Handle(_ context.Context, req admission.Request) admission.Response {
	extra := map[string][]string{}
	for k, v := range req.UserInfo.Extra {
		extra[k] = []string(v)
	}
	d := h.Policy.Decide(Request{
		Operation:   string(req.Operation),
		Kind:        req.Kind.Kind,
		SubResource: req.SubResource,
		User:        User{Name: req.UserInfo.Username, Extra: extra},
		Old:         req.OldObject.Raw,
		New:         req.Object.Raw,
	})
	if d.Allowed {
		return admission.Allowed("")
	}
	h.Logger.Info("admission refused", "reason", d.Reason, "message", d.Message,
		"user", req.UserInfo.Username, "operation", req.Operation, "kind", req.Kind.Kind,
		"subresource", req.SubResource, "namespace", req.Namespace, "name", req.Name)
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{
		Allowed: false,
		Result: &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusForbidden,
			Reason:  metav1.StatusReason(d.Reason),
			Message: d.String(),
		},
	}}
}

// Register validates the policy and serves its handler at Path on srv.
func Register(srv webhook.Server, p Policy, logger logr.Logger) error {
	if err := p.Validate(); err != nil {
		return err
	}
	srv.Register(Path, &webhook.Admission{Handler: &Handler{Policy: p, Logger: logger}})
	return nil
}
