package linstor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"testing"

	linstor "github.com/LINBIT/golinstor"
	"github.com/LINBIT/golinstor/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler/backend"
)

func rc(code uint64, msg string, refs map[string]string) client.ApiCallError {
	return client.ApiCallError{{RetCode: retCode(code), Message: msg, ObjRefs: refs}}
}

// retCode is a LINSTOR return code as the wire carries it (an int64
// with the mask bits set).
func retCode(c uint64) int64 { return int64(c) }

func TestClassify(t *testing.T) {
	const op = "autoplace pvc-1 to 3 replicas"
	dialErr := &url.Error{Op: "Get", URL: "http://c:3370/v1/nodes", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	for _, tc := range []struct {
		name string
		err  error
		want any // *backend.NotFoundError, *backend.RefusedError, *backend.TransientError or nil (untyped)
		kind string
		nf   string
	}{
		{"golinstor 404", client.NotFoundError, &backend.NotFoundError{}, "", ""},
		{"404 with a body", &statusError{404, rc(linstor.FailNotFoundRscGrp, "Resource group 'rg' not found", map[string]string{"RscGrp": "rg"})}, &backend.NotFoundError{}, "resource group", "rg"},
		{"404 for a storage pool", &statusError{404, rc(linstor.FailNotFoundStorPool, "Storage pool 'sp' not found", map[string]string{"StorPool": "sp"})}, &backend.NotFoundError{}, "storage pool", "sp"},
		{"not-found code without refs", rc(linstor.FailNotFoundRscDfn, "not found", nil), &backend.NotFoundError{}, "", ""},
		{"404 without a body", &statusError{404, client.NotFoundError}, &backend.NotFoundError{}, "", ""},
		{"not enough nodes", &statusError{500, rc(linstor.FailNotEnoughNodes, "Not enough available nodes", nil)}, &backend.RefusedError{}, "", ""},
		{"invalid place count", rc(linstor.FailInvldPlaceCount, "Invalid place count", nil), &backend.RefusedError{}, "", ""},
		{"would have to be deleted", &statusError{500, rc(linstor.FailUnknownError, "The resource 'pvc-1' would have to be deleted from nodes to reach the placement count.", nil)}, &backend.RefusedError{}, "", ""},
		{"access denied", &statusError{403, rc(linstor.FailAccDeniedRscGrp, "Access denied", nil)}, &backend.RefusedError{}, "", ""},
		{"sign-in", &statusError{401, rc(linstor.FailSignInMissingCredentials, "Missing credentials", nil)}, &backend.RefusedError{}, "", ""},
		{"other 4xx with a body", &statusError{400, rc(linstor.FailUnknownError, "bad JSON", nil)}, &backend.RefusedError{}, "", ""},
		{"4xx without a body", &statusError{401, io.ErrUnexpectedEOF}, &backend.RefusedError{}, "", ""},
		{"500 without a verdict", &statusError{500, rc(linstor.FailImplError, "NullPointerException", nil)}, &backend.TransientError{}, "", ""},
		{"500 not JSON", &statusError{500, errors.New("invalid character '<' looking for beginning of value")}, &backend.TransientError{}, "", ""},
		{"503 with a warning only", &statusError{503, client.ApiCallError{{RetCode: retCode(linstor.WarnNotConnected), Message: "satellite not connected"}}}, &backend.TransientError{}, "", ""},
		{"deadline", fmt.Errorf("no answer within 1s: %w", context.DeadlineExceeded), &backend.TransientError{}, "", ""},
		{"connection refused", dialErr, &backend.TransientError{}, "", ""},
		{"truncated", io.ErrUnexpectedEOF, &backend.TransientError{}, "", ""},
		{"canceled", context.Canceled, nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(op, tc.err)
			require.Error(t, got)
			switch tc.want.(type) {
			case *backend.NotFoundError:
				var nf *backend.NotFoundError
				require.ErrorAs(t, got, &nf)
				assert.Equal(t, tc.kind, nf.Kind)
				assert.Equal(t, tc.nf, nf.Name)
			case *backend.RefusedError:
				var ref *backend.RefusedError
				require.ErrorAs(t, got, &ref)
				assert.Equal(t, op, ref.Op)
				assert.NotEmpty(t, ref.Message)
			case *backend.TransientError:
				var tr *backend.TransientError
				require.ErrorAs(t, got, &tr)
				assert.Equal(t, op, tr.Op)
				assert.ErrorIs(t, got, tc.err, "the cause is kept")
			default:
				var nf *backend.NotFoundError
				var ref *backend.RefusedError
				var tr *backend.TransientError
				assert.False(t, errors.As(got, &nf) || errors.As(got, &ref) || errors.As(got, &tr), "untyped: %v", got)
				assert.ErrorIs(t, got, tc.err)
			}
		})
	}
	assert.NoError(t, classify(op, nil))
	typed := &backend.RefusedError{Op: "x", Message: "y"}
	assert.Same(t, typed, classify(op, typed), "a typed error passes as it is")
}

func TestClassifyNotEnoughNodesMessage(t *testing.T) {
	err := classify("autoplace pvc-7 to 3 replicas", &statusError{500, client.ApiCallError{{RetCode: retCode(linstor.FailNotEnoughNodes),
		Message: "Not enough available nodes", Details: "Not enough nodes fulfilling the following auto-place criteria"}}})
	var ref *backend.RefusedError
	require.ErrorAs(t, err, &ref)
	assert.Equal(t, "autoplace pvc-7 to 3 replicas: refused: Not enough available nodes; Not enough nodes fulfilling the following auto-place criteria", err.Error())
}
