package manifests

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
)

// imageGateCRD returns the ImageGate CRD from config/, checking its
// names against the Go API.
func imageGateCRD(t *testing.T, docs []document) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	crd := findNamed(objectsOf[*apiextensionsv1.CustomResourceDefinition](docs),
		"imagegates."+v1alpha1.GroupName,
		func(c *apiextensionsv1.CustomResourceDefinition) string { return c.Name })
	if crd == nil {
		t.Fatal("no CustomResourceDefinition imagegates.harbor.druppie.dev in config/")
	}
	return crd
}

// crdVersion returns the v1alpha1 version of crd, its v1 schema and the
// structural form of that schema.
func crdVersion(t *testing.T, crd *apiextensionsv1.CustomResourceDefinition) (
	apiextensionsv1.CustomResourceDefinitionVersion, *apiextensionsv1.JSONSchemaProps,
	*structuralschema.Structural,
) {
	t.Helper()
	if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Name != "v1alpha1" {
		t.Fatalf("CRD versions = %+v, want only v1alpha1", crd.Spec.Versions)
	}
	version := crd.Spec.Versions[0]
	if version.Schema == nil || version.Schema.OpenAPIV3Schema == nil {
		t.Fatal("CRD v1alpha1 has no openAPIV3Schema")
	}
	v1Schema := version.Schema.OpenAPIV3Schema
	var internal apiextensions.JSONSchemaProps
	err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(
		v1Schema, &internal, nil)
	if err != nil {
		t.Fatalf("converting the schema: %v", err)
	}
	structural, err := structuralschema.NewStructural(&internal)
	if err != nil {
		t.Fatalf("NewStructural() error = %v", err)
	}
	return version, v1Schema, structural
}

func TestImageGateCRD(t *testing.T) {
	docs := loadDocuments(t)
	crd := imageGateCRD(t, docs)
	version, _, structural := crdVersion(t, crd)
	wantNames := apiextensionsv1.CustomResourceDefinitionNames{
		Plural: "imagegates", Singular: "imagegate", Kind: v1alpha1.Kind,
		ListKind: "ImageGateList", ShortNames: []string{"ig"},
		Categories: []string{"tekton", "harbor-gate"},
	}
	if diff := cmp.Diff(wantNames, crd.Spec.Names); diff != "" {
		t.Errorf("CRD names (-want +got):\n%s", diff)
	}
	if crd.Spec.Group != v1alpha1.GroupName || crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
		t.Errorf("CRD group %q scope %q, want %q Namespaced",
			crd.Spec.Group, crd.Spec.Scope, v1alpha1.GroupName)
	}
	if !version.Served || !version.Storage {
		t.Errorf("v1alpha1 served=%v storage=%v, want both true", version.Served, version.Storage)
	}

	errs := structuralschema.ValidateStructural(field.NewPath("openAPIV3Schema"), structural)
	if len(errs) > 0 {
		t.Errorf("the schema is not structural: %v", errs.ToAggregate())
	}

	var columns []string
	for _, c := range version.AdditionalPrinterColumns {
		columns = append(columns, c.Name+" "+c.JSONPath)
		if !strings.HasPrefix(c.JSONPath, ".metadata.") && schemaAt(structural, c.JSONPath) == nil {
			t.Errorf("printer column %q reads %s, which the schema does not define",
				c.Name, c.JSONPath)
		}
	}
	wantColumns := []string{
		"Harbor URL .spec.harbor.url", "Severity .spec.policy.severity",
		"Age .metadata.creationTimestamp",
	}
	if diff := cmp.Diff(wantColumns, columns); diff != "" {
		t.Errorf("printer columns (-want +got):\n%s", diff)
	}
}

// schemaAt returns the schema of a simple JSON path such as .spec.a.b, or
// nil when the schema has no such property.
func schemaAt(s *structuralschema.Structural, path string) *structuralschema.Structural {
	for _, name := range strings.Split(strings.TrimPrefix(path, "."), ".") {
		next, ok := s.Properties[name]
		if !ok {
			return nil
		}
		s = &next
	}
	return s
}

func TestImageGateCRDMirrorsGoTypes(t *testing.T) {
	docs := loadDocuments(t)
	_, _, structural := crdVersion(t, imageGateCRD(t, docs))
	spec, ok := structural.Properties["spec"]
	if !ok {
		t.Fatal("the schema has no spec property")
	}
	if !slices.Contains(requiredOf(structural), "spec") {
		t.Error("the schema does not require spec, but ImageGate.Spec has no omitempty")
	}
	compareSchema(t, "spec", reflect.TypeFor[v1alpha1.ImageGateSpec](), &spec)
}

func requiredOf(s *structuralschema.Structural) []string {
	if s.ValueValidation == nil {
		return nil
	}
	return s.ValueValidation.Required
}

var (
	durationType = reflect.TypeFor[metav1.Duration]()
	timeType     = reflect.TypeFor[metav1.Time]()
)

// compareSchema checks that s describes values of type typ: the same
// properties by JSON name, the same JSON types, a description on every
// property of an object, and "required" for exactly the fields without
// omitempty.
func compareSchema(t *testing.T, path string, typ reflect.Type, s *structuralschema.Structural) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	want := jsonType(typ)
	if s.Type != want {
		t.Errorf("%s: schema type %q, want %q for Go type %s", path, s.Type, want, typ)
		return
	}
	switch {
	case typ == durationType || typ == timeType:
	case typ.Kind() == reflect.Struct:
		compareStruct(t, path, typ, s)
	case typ.Kind() == reflect.Map:
		if s.AdditionalProperties == nil || s.AdditionalProperties.Structural == nil {
			t.Errorf("%s: the schema has no additionalProperties for map type %s", path, typ)
			return
		}
		compareSchema(t, path+"[*]", typ.Elem(), s.AdditionalProperties.Structural)
	case typ.Kind() == reflect.Slice:
		if s.Items == nil {
			t.Errorf("%s: the schema has no items for slice type %s", path, typ)
			return
		}
		compareSchema(t, path+"[*]", typ.Elem(), s.Items)
	}
}

func compareStruct(t *testing.T, path string, typ reflect.Type, s *structuralschema.Structural) {
	t.Helper()
	var names, required []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			t.Errorf("%s: field %s has no JSON name", path, f.Name)
			continue
		}
		names = append(names, name)
		if !strings.Contains(opts, "omitempty") {
			required = append(required, name)
		}
		prop, ok := s.Properties[name]
		if !ok {
			t.Errorf("%s.%s: the schema has no such property (Go field %s.%s)",
				path, name, typ.Name(), f.Name)
			continue
		}
		if prop.Description == "" {
			t.Errorf("%s.%s: the schema has no description", path, name)
		}
		compareSchema(t, path+"."+name, f.Type, &prop)
	}

	var props []string
	for name := range s.Properties {
		props = append(props, name)
	}
	sort.Strings(names)
	sort.Strings(props)
	if diff := cmp.Diff(names, props); diff != "" {
		t.Errorf("%s: properties (-Go fields +schema):\n%s", path, diff)
	}

	gotRequired := slices.Clone(requiredOf(s))
	sort.Strings(required)
	sort.Strings(gotRequired)
	if diff := cmp.Diff(required, gotRequired); diff != "" {
		t.Errorf("%s: required (-fields without omitempty +schema):\n%s", path, diff)
	}
}

// jsonType returns the OpenAPI type encoding/json produces for typ.
func jsonType(typ reflect.Type) string {
	switch {
	case typ == durationType || typ == timeType:
		return "string"
	case typ.Kind() == reflect.Struct, typ.Kind() == reflect.Map:
		return "object"
	case typ.Kind() == reflect.Slice:
		return "array"
	case typ.Kind() == reflect.String:
		return "string"
	case typ.Kind() == reflect.Bool:
		return "boolean"
	case typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Uint64:
		return "integer"
	}
	return "unsupported Go kind " + typ.Kind().String()
}

// validateAgainstCRD checks obj the way the API server's schema checks
// do without CEL: OpenAPI validation with kube-openapi, list-map
// uniqueness, and pruning, where a pruned field means the schema does
// not know it. It returns one message per problem.
func validateAgainstCRD(t *testing.T, obj runtime.Object) []string {
	t.Helper()
	_, v1Schema, structural := crdVersion(t, imageGateCRD(t, loadDocuments(t)))
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatalf("converting to unstructured: %v", err)
	}
	var problems []string
	validator := validate.NewSchemaValidator(openAPISchema(t, v1Schema), nil, "", strfmt.Default)
	for _, err := range validator.Validate(content).Errors {
		problems = append(problems, err.Error())
	}
	listErrs := listtype.ValidateListSetsAndMaps(nil, structural, content)
	for _, err := range listErrs {
		problems = append(problems, err.Error())
	}
	pruned := pruning.PruneWithOptions(content, structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	for _, path := range pruned {
		problems = append(problems, "unknown field "+path)
	}
	return problems
}

// openAPISchema converts a CRD schema to kube-openapi's form through
// JSON, the representation both types share.
func openAPISchema(t *testing.T, s *apiextensionsv1.JSONSchemaProps) *spec.Schema {
	t.Helper()
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out spec.Schema
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestExampleImageGatesMatchCRD(t *testing.T) {
	docs := loadDocuments(t)
	gates := objectsOf[*v1alpha1.ImageGate](docs)
	if len(gates) == 0 {
		t.Fatal("no ImageGate among the manifests")
	}
	for _, g := range gates {
		if problems := validateAgainstCRD(t, g); len(problems) > 0 {
			t.Errorf("ImageGate %s does not match the CRD schema:\n%s",
				g.Name, strings.Join(problems, "\n"))
		}
	}
}

func TestCRDSchemaRejects(t *testing.T) {
	expires := metav1.Unix(1700000000, 0)
	tests := []struct {
		name   string
		mutate func(*v1alpha1.ImageGate)
		want   string
	}{{
		name:   "missing harbor URL",
		mutate: func(g *v1alpha1.ImageGate) { g.Spec.Harbor.URL = "" },
		want:   "spec.harbor.url in body should match",
	}, {
		name:   "URL with user info",
		mutate: func(g *v1alpha1.ImageGate) { g.Spec.Harbor.URL = "https://a:b@harbor.local" },
		want:   "spec.harbor.url in body should match",
	}, {
		name:   "secret name with capitals",
		mutate: func(g *v1alpha1.ImageGate) { g.Spec.Signing.KeySecret = "Cosign" },
		want:   "spec.signing.keySecret in body should match",
	}, {
		name:   "unknown KMS scheme",
		mutate: func(g *v1alpha1.ImageGate) { g.Spec.Signing.KMS = "vault://k" },
		want:   "spec.signing.kms in body should match",
	}, {
		name:   "negative max count",
		mutate: func(g *v1alpha1.ImageGate) { g.Spec.Policy.MaxCounts = map[string]int64{"High": -1} },
		want:   "spec.policy.maxCounts.High in body should be greater than or equal to 0",
	}, {
		name: "duplicate allowlist id",
		mutate: func(g *v1alpha1.ImageGate) {
			g.Spec.Policy.Allowlist = []v1alpha1.AllowlistEntry{
				{ID: "CVE-1"}, {ID: "CVE-1", Expires: &expires},
			}
		},
		want: `spec.policy.allowlist[1]: Duplicate value: {"id":"CVE-1"}`,
	}, {
		name: "bad duration",
		mutate: func(g *v1alpha1.ImageGate) {
			g.Spec.Scan.Timeout = &metav1.Duration{Duration: -1}
		},
		want: "spec.scan.timeout in body should match",
	}, {
		name:   "unknown onFail",
		mutate: func(g *v1alpha1.ImageGate) { g.Spec.OnFail = "Retry" },
		want:   `spec.onFail in body should be one of [Succeed Fail]`,
	}}
	base := objectsOf[*v1alpha1.ImageGate](loadDocuments(t))
	if len(base) == 0 {
		t.Fatal("no ImageGate among the manifests")
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := base[0].DeepCopy()
			tc.mutate(g)
			problems := strings.Join(validateAgainstCRD(t, g), "\n")
			if !strings.Contains(problems, tc.want) {
				t.Errorf("schema problems:\n%s\nwant one containing %q", problems, tc.want)
			}
		})
	}
}

func TestCRDPruningFindsUnknownFields(t *testing.T) {
	base := objectsOf[*v1alpha1.ImageGate](loadDocuments(t))
	if len(base) == 0 {
		t.Fatal("no ImageGate among the manifests")
	}
	_, _, structural := crdVersion(t, imageGateCRD(t, loadDocuments(t)))
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(base[0])
	if err != nil {
		t.Fatal(err)
	}
	content["spec"].(map[string]any)["harbor"].(map[string]any)["user"] = "admin"
	pruned := pruning.PruneWithOptions(content, structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	if diff := cmp.Diff([]string{"spec.harbor.user"}, pruned); diff != "" {
		t.Errorf("pruned fields (-want +got):\n%s", diff)
	}
}
