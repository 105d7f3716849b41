package linstor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	linstor "github.com/LINBIT/golinstor"
	"github.com/LINBIT/golinstor/client"

	"github.com/nodewright/nodewright/reconciler/backend"
)

// statusError is a failed call with the HTTP status the controller
// answered, which golinstor does not keep.
type statusError struct {
	Status int
	Err    error
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%d %s: %v", e.Status, http.StatusText(e.Status), e.Err)
}

func (e *statusError) Unwrap() error { return e.Err }

// LINSTOR return codes (without the error mask bits) that are the
// controller's verdict on a request: a retry gets the same answer.
var refusedCodes = map[uint64]bool{
	linstor.FailNotEnoughNodes &^ linstor.MaskError:           true,
	linstor.FailNotEnoughFreeSpace &^ linstor.MaskError:       true,
	linstor.FailInsufficientReplicaCount &^ linstor.MaskError: true,
	linstor.FailInsufficientPeerSlots &^ linstor.MaskError:    true,
	linstor.FailUndecidableAutoplacment &^ linstor.MaskError:  true,
	linstor.FailSignIn &^ linstor.MaskError:                   true,
	linstor.FailSignInMissingCredentials &^ linstor.MaskError: true,
}

// Ranges of LINSTOR return codes: invalid arguments (FAIL_INVLD_*), not
// found (FAIL_NOT_FOUND_*), access denied (FAIL_ACC_DENIED_*).
const (
	codeInvalidFirst, codeInvalidLast   = 200, 299
	codeNotFoundFirst, codeNotFoundLast = 300, 399
	codeDeniedFirst, codeDeniedLast     = 400, 499
)

// notFoundKinds names the object of a FAIL_NOT_FOUND_* code, and the
// obj_refs key LINSTOR names it under.
var notFoundKinds = map[uint64]struct{ kind, ref string }{
	linstor.FailNotFoundNode &^ linstor.MaskError:        {"node", "Node"},
	linstor.FailNotFoundRscDfn &^ linstor.MaskError:      {"resource", "RscDfn"},
	linstor.FailNotFoundRsc &^ linstor.MaskError:         {"resource", "RscDfn"},
	linstor.FailNotFoundVlmDfn &^ linstor.MaskError:      {"volume definition", "RscDfn"},
	linstor.FailNotFoundStorPoolDfn &^ linstor.MaskError: {"storage pool", "StorPoolDfn"},
	linstor.FailNotFoundStorPool &^ linstor.MaskError:    {"storage pool", "StorPool"},
	linstor.FailNotFoundRscGrp &^ linstor.MaskError:      {"resource group", "RscGrp"},
}

// refusals are phrases of LINSTOR's messages for verdicts whose return
// code is not specific (autoplace over its count answers with a generic
// code).
var refusals = []string{"would have to be deleted", "not enough available nodes", "not enough nodes"}

// classify maps the error of the request op to the backend's typed
// errors, the one place that decides:
//
//   - a 404, or a LINSTOR FAIL_NOT_FOUND_* code: *backend.NotFoundError,
//     naming the object when LINSTOR does (Kind empty otherwise, for the
//     caller to fill in);
//   - LINSTOR's verdicts (not enough nodes or space, an invalid argument
//     such as a place count, access denied, failed sign-in, a count that
//     needs replicas deleted) and any other 4xx: *backend.RefusedError;
//   - everything else (5xx without a verdict, a timeout, a connection
//     error, an answer that does not decode): *backend.TransientError.
//
// A typed backend error passes as it is; a cancelled context is wrapped
// but not typed (the caller stopped, the controller did nothing wrong).
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var (
		nf     *backend.NotFoundError
		ref    *backend.RefusedError
		tr     *backend.TransientError
		rcs    client.ApiCallError
		status *statusError
	)
	switch {
	case errors.As(err, &nf), errors.As(err, &ref), errors.As(err, &tr):
		return err
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", op, err)
	}
	code := 0
	if errors.As(err, &status) {
		code = status.Status
	}
	if errors.As(err, &rcs) {
		for _, rc := range rcs {
			if uint64(rc.RetCode)&linstor.MaskError != linstor.MaskError {
				continue // a warning or info beside the error
			}
			c := uint64(rc.RetCode) & linstor.MaskBitsCode
			switch {
			case c >= codeNotFoundFirst && c <= codeNotFoundLast:
				out := &backend.NotFoundError{}
				if k, ok := notFoundKinds[c]; ok {
					out.Kind = k.kind
					out.Name = rc.ObjRefs[k.ref]
					if out.Name == "" {
						out.Kind = ""
					}
				}
				return out
			case refusedCodes[c], c >= codeInvalidFirst && c <= codeInvalidLast, c >= codeDeniedFirst && c <= codeDeniedLast, refusal(rc.Message):
				return &backend.RefusedError{Op: op, Message: message(rc)}
			}
		}
		if code >= 400 && code < 500 && code != http.StatusNotFound {
			return &backend.RefusedError{Op: op, Message: rcs.Error()}
		}
		return &backend.TransientError{Op: op, Err: err}
	}
	switch {
	case errors.Is(err, client.NotFoundError), code == http.StatusNotFound:
		return &backend.NotFoundError{}
	case code >= 400 && code < 500:
		return &backend.RefusedError{Op: op, Message: err.Error()}
	}
	return &backend.TransientError{Op: op, Err: err}
}

// refusal is true for a message LINSTOR gives a verdict in.
func refusal(msg string) bool {
	msg = strings.ToLower(msg)
	for _, r := range refusals {
		if strings.Contains(msg, r) {
			return true
		}
	}
	return false
}

// message is a return code's message, with its cause and details.
func message(rc client.ApiCallRc) string {
	parts := []string{rc.Message}
	for _, p := range []string{rc.Cause, rc.Details} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "; ")
}
