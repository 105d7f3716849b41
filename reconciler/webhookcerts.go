package reconciler

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/nodewright/nodewright/reconciler/webhookcert"
)

// certsTimeout bounds the first certificate pass at start.
const certsTimeout = time.Minute

// SelfManagedCerts is a WebhookOptions.Certs that keeps the webhook's
// certificates with a webhookcert.Rotator over the manager's client and
// API reader (o's Client and Reader are set here): a first pass before
// the manager starts, so the webhook server finds its files, then a pass
// every check interval on every replica, with a readiness check.
func SelfManagedCerts(o webhookcert.Options) func(ctrl.Manager) error {
	return func(mgr ctrl.Manager) error {
		o.Client, o.Reader = mgr.GetClient(), mgr.GetAPIReader()
		r, err := webhookcert.New(o)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), certsTimeout)
		defer cancel()
		switch err := r.Ensure(ctx); {
		case apierrors.IsNotFound(err):
			// The files are written; with no configuration the API server
			// calls nobody, which the operators chose (config/README.md).
			mgr.GetLogger().Info("the webhook configuration is missing: the API server does not call this webhook; provenance checks still hold", "configuration", o.WebhookConfigName)
		case err != nil:
			return fmt.Errorf("webhook certificates: %w", err)
		}
		if err := mgr.Add(r); err != nil {
			return err
		}
		return mgr.AddReadyzCheck("webhook-certs", r.Ready)
	}
}
