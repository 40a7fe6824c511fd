package manifests

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	pipelinev1beta1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
)

// manifestDirs are the directories, relative to this package, whose YAML
// files are checked.
var manifestDirs = []string{"../../config", "../../tekton"}

// document is one decoded YAML document of a manifest file.
type document struct {
	file  string // path relative to the repository root
	index int    // position of the document in the file, from 0
	obj   runtime.Object
	gvk   schema.GroupVersionKind
}

func (d document) String() string {
	return fmt.Sprintf("%s, document %d (%s)", filepath.ToSlash(d.file), d.index, d.gvk.Kind)
}

func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	builders := []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		apiextensionsv1.AddToScheme,
		pipelinev1.AddToScheme,
		pipelinev1beta1.AddToScheme,
		v1alpha1.AddToScheme,
	}
	for _, add := range builders {
		if err := add(scheme); err != nil {
			t.Fatalf("building the scheme: %v", err)
		}
	}
	return scheme
}

// strictDecoder returns a decoder that rejects unknown and duplicate
// fields.
func strictDecoder(t *testing.T) runtime.Decoder {
	t.Helper()
	return serializer.NewCodecFactory(newScheme(t), serializer.EnableStrict).UniversalDeserializer()
}

// yamlFiles lists the .yaml and .yml files directly in the manifest
// directories, sorted.
func yamlFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, dir := range manifestDirs {
		for _, pattern := range []string{"*.yaml", "*.yml"} {
			matches, err := filepath.Glob(filepath.Join(dir, pattern))
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, matches...)
		}
	}
	sort.Strings(files)
	return files
}

// splitDocuments returns the YAML documents of data that are not empty
// or comments only.
func splitDocuments(data []byte) ([][]byte, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		asJSON, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if string(bytes.TrimSpace(asJSON)) == "null" {
			continue
		}
		docs = append(docs, doc)
	}
}

// loadDocuments decodes every document of every manifest file strictly,
// failing the test for any that does not decode.
func loadDocuments(t *testing.T) []document {
	t.Helper()
	decoder := strictDecoder(t)
	var all []document
	for _, file := range yamlFiles(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := splitDocuments(data)
		if err != nil {
			t.Errorf("%s: splitting YAML documents: %v", file, err)
			continue
		}
		rel, _ := filepath.Rel("../..", file)
		for i, doc := range docs {
			obj, gvk, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				t.Errorf("%s, document %d: %v", rel, i, err)
				continue
			}
			all = append(all, document{file: rel, index: i, obj: obj, gvk: *gvk})
		}
	}
	return all
}

// objectsOf returns the decoded objects of type T.
func objectsOf[T runtime.Object](docs []document) []T {
	var out []T
	for _, d := range docs {
		if obj, ok := d.obj.(T); ok {
			out = append(out, obj)
		}
	}
	return out
}

func TestEveryManifestDecodesStrictly(t *testing.T) {
	docs := loadDocuments(t)
	counts := map[string]int{}
	for _, d := range docs {
		counts[d.gvk.Kind]++
	}
	// Every kind the installation and the examples need, so that a file
	// that is dropped or stops matching *.yaml fails here.
	want := map[string]int{
		"Namespace": 1, "ServiceAccount": 1, "ClusterRole": 3, "ClusterRoleBinding": 1,
		"Role": 1, "RoleBinding": 1, "CustomResourceDefinition": 1, "ConfigMap": 4,
		"Deployment": 1, "Service": 2, "Task": 1, "Pipeline": 1, "ImageGate": 1,
	}
	for kind, n := range want {
		if counts[kind] != n {
			t.Errorf("found %d documents of kind %s, want %d", counts[kind], kind, n)
		}
	}
}

func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{{
		name: "ConfigMap",
		doc:  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndatum: {a: b}\n",
	}, {
		name: "Task",
		doc: "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: x}\n" +
			"spec: {steps: [{name: s, image: busybox, cmd: [true]}]}\n",
	}, {
		name: "ImageGate",
		doc: "apiVersion: harbor.druppie.dev/v1alpha1\nkind: ImageGate\n" +
			"metadata: {name: x}\nspec: {harbor: {url: https://h, user: admin}}\n",
	}, {
		name: "duplicate field",
		doc:  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nmetadata: {name: z}\n",
	}}
	decoder := strictDecoder(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decoder.Decode([]byte(tc.doc), nil, nil)
			if !runtime.IsStrictDecodingError(err) {
				t.Errorf("Decode() error = %v, want a strict decoding error", err)
			}
		})
	}
}
