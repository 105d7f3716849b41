package main

import (
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	kubevirtv1 "kubevirt.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/reconciler/backend/kubevirt"
)

// kubevirtEvacuator returns the KubeVirt backend for VM protection when
// the API server serves virtualmachineinstances.kubevirt.io and the other
// kinds the backend uses (KubeVirt is installed), and nil when it does not: the steps that need it then halt
// with NoVMBackend. The backend reads through a client of its own without
// a cache, so the reconciler watches no KubeVirt object.
func kubevirtEvacuator(cfg *rest.Config) (*kubevirt.Evacuator, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubevirt discovery: %w", err)
	}
	served, err := servesVMIs(dc)
	if err != nil || !served {
		return nil, err
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, kubevirt.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("kubevirt client: %w", err)
	}
	return kubevirt.New(c), nil
}

// kubevirtResources are the kubevirt.io/v1 resources the backend reads
// and writes; KubeVirt serves them all.
var kubevirtResources = []string{"virtualmachineinstances", "virtualmachines", "virtualmachineinstancemigrations"}

// servesVMIs reports whether the API server serves
// virtualmachineinstances in kubevirt.io/v1, with the VirtualMachines and
// migrations the backend needs beside them.
func servesVMIs(dc discovery.DiscoveryInterface) (bool, error) {
	list, err := dc.ServerResourcesForGroupVersion(kubevirtv1.SchemeGroupVersion.String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("kubevirt discovery: %w", err)
	}
	served := map[string]bool{}
	for _, r := range list.APIResources {
		served[r.Name] = true
	}
	for _, r := range kubevirtResources {
		if !served[r] {
			return false, nil
		}
	}
	return true, nil
}
