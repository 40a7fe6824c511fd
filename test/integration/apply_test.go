//go:build integration

package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// fieldManager names the harness in the managed fields of what it applies.
const fieldManager = "harbor-gate-itest"

// crdEstablishedTimeout bounds the wait for applied CRDs to be served.
const crdEstablishedTimeout = 30 * time.Second

// applier applies YAML manifests with server-side apply. Server-side apply stores no
// last-applied annotation, which Tekton's CRDs, some over 400 KB, would not fit in.
type applier struct {
	dynamic dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper
	crds    apiextensionsclient.Interface
}

func newApplier(cfg *rest.Config) (*applier, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the dynamic client: %w", err)
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the discovery client: %w", err)
	}
	crds, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the apiextensions client: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
	return &applier{dynamic: dyn, mapper: mapper, crds: crds}, nil
}

// applyFiles applies every YAML document of the files, in order. CRDs among them are
// waited for until they are established, so that later files may contain their objects.
func (a *applier) applyFiles(ctx context.Context, files ...string) error {
	for _, file := range files {
		objects, err := readManifests(file)
		if err != nil {
			return err
		}
		var crdNames []string
		for _, obj := range objects {
			if err := a.apply(ctx, obj); err != nil {
				return fmt.Errorf("applying %s %q from %s: %w", obj.GetKind(), obj.GetName(),
					file, err)
			}
			if obj.GetKind() == "CustomResourceDefinition" {
				crdNames = append(crdNames, obj.GetName())
			}
		}
		if err := a.waitEstablished(ctx, crdNames); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) apply(ctx context.Context, obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	mapping, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("finding the resource of %s: %w", gvk, err)
	}
	var resource dynamic.ResourceInterface = a.dynamic.Resource(mapping.Resource)
	if mapping.Scope.Name() == "namespace" {
		resource = a.dynamic.Resource(mapping.Resource).Namespace(obj.GetNamespace())
	}
	_, err = resource.Apply(ctx, obj.GetName(), obj,
		metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
	return err
}

// waitEstablished waits until the named CRDs are established and then resets the cached
// discovery, so that the next RESTMapping sees their kinds.
func (a *applier) waitEstablished(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	for _, name := range names {
		err := wait.PollUntilContextTimeout(ctx, readyPollInterval, crdEstablishedTimeout, true,
			func(ctx context.Context) (bool, error) {
				crd, err := a.crds.ApiextensionsV1().CustomResourceDefinitions().
					Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return false, err
				}
				return isEstablished(crd), nil
			})
		if err != nil {
			return fmt.Errorf("waiting for CRD %s to be established: %w", name, err)
		}
	}
	a.mapper.Reset()
	return nil
}

func isEstablished(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, cond := range crd.Status.Conditions {
		if cond.Type == apiextensionsv1.Established {
			return cond.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}

// readManifests decodes the YAML documents of file, skipping empty ones.
func readManifests(file string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading manifests: %w", err)
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objects []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		err := decoder.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			return objects, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decoding %s: %w", file, err)
		}
		if len(obj.Object) > 0 {
			objects = append(objects, obj)
		}
	}
}

// globFiles returns the files matching the patterns, each pattern's matches sorted as
// filepath.Glob sorts them. A pattern without a match is an error, because it means the
// module layout changed.
func globFiles(patterns ...string) ([]string, error) {
	var files []string
	for _, pattern := range patterns {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return nil, fmt.Errorf("matching %s: %w", pattern, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("no file matches %s", pattern)
		}
		files = append(files, matches...)
	}
	return files, nil
}
