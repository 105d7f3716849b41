package backend

import "fmt"

// NotFoundError says the backend has no such object: a resource group, a
// resource or a storage pool. The operation halts at once (retrying
// cannot make it appear); operation.Classify maps it to a stall with
// reason ReasonNotFound.
type NotFoundError struct {
	// Kind is what was looked for: "resource group", "resource", ...
	Kind string
	// Name is its name.
	Name string
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %q not found", e.Kind, e.Name) }

// RefusedError says the backend understood a request and refused it for
// a reason a retry does not change (LINSTOR: not enough nodes for a
// placement, an invalid place count). The operation halts; Classify maps
// it to a stall with reason ReasonRefused.
type RefusedError struct {
	// Op is the request refused, e.g. "autoplace pvc-1 to 3 replicas".
	Op string
	// Message is the backend's own explanation.
	Message string
}

func (e *RefusedError) Error() string { return e.Op + ": refused: " + e.Message }

// TransientError says a request failed in a way that may pass on its own:
// the controller answered 5xx for a reason not its verdict, timed out, or
// could not be reached. The operation retries the step with backoff, up to
// its kind's bound. Err is the cause.
type TransientError struct {
	// Op is the request that failed.
	Op string
	// Err is the cause.
	Err error
}

func (e *TransientError) Error() string { return e.Op + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *TransientError) Unwrap() error { return e.Err }

// Reasons operation.Classify gives the halts these errors cause.
const (
	// ReasonNotFound halts an operation whose backend object is missing.
	ReasonNotFound = "BackendNotFound"
	// ReasonRefused halts an operation whose request the backend refused.
	ReasonRefused = "BackendRefused"
)
