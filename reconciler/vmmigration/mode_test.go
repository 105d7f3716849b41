package vmmigration_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/operation/optest"
	vm "github.com/nodewright/nodewright/reconciler/vmmigration"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func TestChooseMode(t *testing.T) {
	tests := []struct {
		name      string
		requested v1.MigrationMode
		live      bool
		want      v1.MigrationMode
		why       string
		stall     bool
	}{
		{name: "Auto, live", requested: v1.MigrationAuto, live: true, want: v1.MigrationHot, why: "Auto chose Hot"},
		{name: "Auto, not live", requested: v1.MigrationAuto, want: v1.MigrationCold, why: "Auto chose Cold"},
		{name: "unset is Auto", requested: "", live: true, want: v1.MigrationHot, why: "Auto chose Hot"},
		{name: "Hot, live", requested: v1.MigrationHot, live: true, want: v1.MigrationHot, why: "spec.mode Hot"},
		{name: "Hot, not live", requested: v1.MigrationHot, stall: true, why: "cannot move live"},
		{name: "Cold, live", requested: v1.MigrationCold, live: true, want: v1.MigrationCold, why: "spec.mode Cold"},
		{name: "Cold, not live", requested: v1.MigrationCold, want: v1.MigrationCold, why: "spec.mode Cold"},
		{name: "unknown", requested: "Lukewarm", stall: true, why: "unknown spec.mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why, err := vm.ChooseMode(tt.requested, tt.live)
			if tt.stall {
				require.Error(t, err)
				assert.Equal(t, operation.Stalling, operation.Classify(err).Class)
				assert.ErrorContains(t, err, vm.ReasonValidationFailed)
				assert.ErrorContains(t, err, tt.why)
				assert.ErrorContains(t, err, "nothing was changed")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Contains(t, why, tt.why)
		})
	}
}

func TestSnapshotName(t *testing.T) {
	m := &v1.VMVolumeMigration{ObjectMeta: metav1.ObjectMeta{Name: "db-to-r3", UID: types.UID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")}}
	assert.Equal(t, "db-to-r3-before-0f1e2d3c", vm.SnapshotName(m, "before"))
	assert.Equal(t, "db-to-r3-after-0f1e2d3c", vm.SnapshotName(m, "after"))
	m.UID = ""
	assert.Equal(t, "db-to-r3-before", vm.SnapshotName(m, "before"))
	m.Name = strings.Repeat("x", 80)
	long := vm.SnapshotName(m, "before")
	assert.Len(t, long, 63)
	assert.NotEqual(t, long, vm.SnapshotName(m, "after"))
}

func TestTable(t *testing.T) {
	require.Same(t, vm.Table, vm.Kind.Table)
	optest.CheckKind(t, vm.Kind)
	assert.True(t, vm.Table.IsTerminal(vm.RolledBack))
}
