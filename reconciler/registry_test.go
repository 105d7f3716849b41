package reconciler_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nodewright/nodewright/reconciler"
	"github.com/nodewright/nodewright/reconciler/phase"
	"github.com/nodewright/nodewright/schema/manifest"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// The registry of operation kinds (v1.Registry) is the one list: every
// kind in it has a controller, a manifest decoder and a distinct short
// name, and every controller runs a registered kind on its own objects.
func TestEveryRegisteredKindIsRun(t *testing.T) {
	controllers := map[string]bool{}
	for _, k := range reconciler.Kinds() {
		_, registered := v1.LookupOperationKind(k.Name)
		assert.True(t, registered, "controller of unregistered kind %s", k.Name)
		assert.Equal(t, k.Name, k.Table.Kind, "the table of %s names another kind", k.Name)
		assert.IsType(t, k.New(), mustNew(t, k.Name), "controller of %s runs other objects", k.Name)
		// Phases before the admission gates let a version start are idle:
		// any other phase needs a started version (provenance).
		assert.True(t, k.Table.IsIdle(phase.Pending) && k.Table.IsIdle(phase.AwaitingApproval), "%s: Pending and AwaitingApproval are idle", k.Name)
		controllers[k.Name] = true
	}
	shorts := map[string]string{}
	for _, k := range v1.Registry {
		assert.True(t, controllers[k.Kind], "registered kind %s has no controller", k.Kind)
		assert.NotNil(t, manifest.NewObject(k.Kind), "manifests cannot hold kind %s", k.Kind)
		assert.Empty(t, shorts[k.Short], "short name %s of %s is taken by %s", k.Short, k.Kind, shorts[k.Short])
		shorts[k.Short] = k.Kind
		assert.Empty(t, k.NewList().Operations(), k.Kind)
	}
	assert.Len(t, v1.OperationKinds, len(v1.Registry))
}

func mustNew(t *testing.T, kind string) v1.Operation {
	k, ok := v1.LookupOperationKind(kind)
	if !ok {
		t.Fatalf("kind %s is not registered", kind)
	}
	return k.New()
}
