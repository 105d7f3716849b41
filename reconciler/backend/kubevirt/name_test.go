package kubevirt_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ktypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/nodewright/nodewright/reconciler/backend/kubevirt"
)

func TestMigrationNameIsOnePerVMIAndEvacuation(t *testing.T) {
	vmi := func(name, uid string) *kubevirtv1.VirtualMachineInstance {
		return &kubevirtv1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name, UID: ktypes.UID("u-" + uid)}}
	}
	base := kubevirt.MigrationName(vmi("db-0", "1"), "n1", "100")
	assert.Equal(t, base, kubevirt.MigrationName(vmi("db-0", "1"), "n1", "100"), "the same for every call of one evacuation")
	assert.True(t, strings.HasPrefix(base, "db-0-evac-"), base)
	for name, other := range map[string]string{
		"another evacuation": kubevirt.MigrationName(vmi("db-0", "1"), "n1", "200"),
		"another node":       kubevirt.MigrationName(vmi("db-0", "1"), "n2", "100"),
		"a new VMI":          kubevirt.MigrationName(vmi("db-0", "2"), "n1", "100"),
		"another VMI":        kubevirt.MigrationName(vmi("db-1", "1"), "n1", "100"),
	} {
		assert.NotEqual(t, base, other, name)
	}
	long := kubevirt.MigrationName(vmi(strings.Repeat("a", 199)+"-"+strings.Repeat("b", 53), "1"), "n1", "100")
	assert.Empty(t, validation.IsDNS1123Subdomain(long), long)
	assert.True(t, strings.HasPrefix(long, strings.Repeat("a", 199)+"-evac-"), "cut before the name's limit, without a trailing dash")
}
