package linstoremu

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzRequestBodies sends arbitrary bodies to the two endpoints that
// decode one: the emulator must answer (400 when the body is not JSON)
// and never panic, and the answer is always an ApiCallRc array.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"select_filter":{"place_count":3}}`,
		`{"select_filter":{}}`,
		`{"select_filter":{"place_count":-1}}`,
		`{"select_filter":{"place_count":2147483647,"additional_place_count":1}}`,
		`{"select_filter":{"storage_pool":"thin","node_name_list":["n1"]}}`,
		`{"description":"x","select_filter":{"place_count":1}}`,
		`{`, `[]`, `null`, ``, `{"select_filter":null}`, `{"select_filter":{"place_count":"3"}}`,
	} {
		f.Add(s)
	}
	e := Start(WithSyncRate(10))
	f.Cleanup(e.Close)
	for _, n := range []string{"n1", "n2", "n3"} {
		if err := e.AddNode(n); err != nil {
			f.Fatal(err)
		}
		if err := e.AddStoragePool(n, "thin", 1<<30, 1<<30); err != nil {
			f.Fatal(err)
		}
	}
	if err := e.AddResourceGroup("rg", "thin", 2); err != nil {
		f.Fatal(err)
	}
	if err := e.AddResource("rg", "r", 1<<20, "n1"); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, target := range []struct{ method, path string }{
			{http.MethodPost, "/v1/resource-definitions/r/autoplace"},
			{http.MethodPut, "/v1/resource-groups/rg"},
		} {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(target.method, target.path, bytes.NewBufferString(body)))
			switch rec.Code {
			case http.StatusOK, http.StatusCreated, http.StatusBadRequest, http.StatusInternalServerError:
			default:
				t.Fatalf("%s %s %q: status %d", target.method, target.path, body, rec.Code)
			}
			if !json.Valid([]byte(body)) && rec.Code != http.StatusBadRequest {
				t.Fatalf("%s %q is not JSON, answered %d", target.method, body, rec.Code)
			}
			var rcs []apiCallRc
			if err := json.Unmarshal(rec.Body.Bytes(), &rcs); err != nil || len(rcs) == 0 {
				t.Fatalf("%s %q: the answer is not an ApiCallRc array: %s", target.method, body, rec.Body.Bytes())
			}
		}
		e.mu.Lock()
		e.calls = nil // keep the log small over a long run
		e.mu.Unlock()
	})
}
