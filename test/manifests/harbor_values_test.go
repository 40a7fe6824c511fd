package manifests

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// harborValuesDir is the folder of the platform's values for the Harbor Helm chart.
const harborValuesDir = "../../config/harbor"

// inlineCredentialKeys are the chart values that contain a credential itself
// rather than the name of a Secret with it.
var inlineCredentialKeys = []string{
	"accesskey", "accountkey", "encodedkey", "gitHubToken", "harborAdminPassword",
	"htpasswdString", "password", "secret", "secretKey", "secretkey", "tokenCert",
	"tokenKey", "xsrfKey",
}

// inlineCredentials returns the path of every credential value that is set
// in tree, so the failure names where a key or password was written inline.
func inlineCredentials(path string, tree any) []string {
	var found []string
	switch node := tree.(type) {
	case map[string]any:
		for key, value := range node {
			child := path + "." + key

			if text, ok := value.(string); ok && text != "" &&
				slices.Contains(inlineCredentialKeys, key) {
				found = append(found, child)
				continue
			}
			found = append(found, inlineCredentials(child, value)...)
		}
	case []any:
		for i, value := range node {
			found = append(found, inlineCredentials(fmt.Sprintf("%s[%d]", path, i), value)...)
		}
	}
	sort.Strings(found)
	return found
}

func readValues(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(harborValuesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.UnmarshalStrict(data, &values); err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
	return values
}

// lookup returns the value at a dotted path of keys, or nil.
func lookup(tree map[string]any, keys ...string) any {
	var node any = tree
	for _, key := range keys {
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		node = m[key]
	}
	return node
}

func TestInlineCredentialsDetects(t *testing.T) {
	tree := map[string]any{
		"harborAdminPassword": "Harbor12345",
		"database": map[string]any{"external": map[string]any{
			"password": "", "existingSecret": "db",
		}},
		"persistence": map[string]any{"imageChartStorage": map[string]any{
			"s3": map[string]any{"secretkey": "abc", "existingSecret": ""},
		}},
	}
	want := []string{".harborAdminPassword", ".persistence.imageChartStorage.s3.secretkey"}
	if diff := cmp.Diff(want, inlineCredentials("", tree)); diff != "" {
		t.Errorf("inline credentials (-want +got):\n%s", diff)
	}
}

func TestHarborValuesHoldNoCredentials(t *testing.T) {
	for _, name := range []string{"values.yaml", "values-pvc.yaml"} {
		t.Run(name, func(t *testing.T) {
			if found := inlineCredentials("", readValues(t, name)); len(found) > 0 {
				t.Errorf("%s sets credentials inline at %v; name an existing Secret instead",
					name, found)
			}
		})
	}
}

func TestHarborValuesPlatformSettings(t *testing.T) {
	values := readValues(t, "values.yaml")
	tests := []struct {
		path []string
		want any
	}{
		{[]string{"externalURL"}, "https://registry.druppie.local"},
		{[]string{"expose", "type"}, "ingress"},
		{[]string{"expose", "tls", "enabled"}, true},
		{[]string{"expose", "tls", "certSource"}, "secret"},
		{[]string{"expose", "ingress", "hosts", "core"}, "registry.druppie.local"},
		{[]string{"trivy", "enabled"}, true},
		{[]string{"persistence", "imageChartStorage", "type"}, "s3"},
		{[]string{"persistence", "imageChartStorage", "s3", "existingSecret"},
			"harbor-s3-credentials"},
		{[]string{"existingSecretAdminPassword"}, "harbor-admin"},
		{[]string{"database", "external", "existingSecret"}, "harbor-db-credentials"},
		{[]string{"redis", "external", "existingSecret"}, "harbor-redis-credentials"},
	}
	for _, tt := range tests {
		if got := lookup(values, tt.path...); !cmp.Equal(tt.want, got) {
			t.Errorf("values.yaml %v = %v, want %v", tt.path, got, tt.want)
		}
	}
	pvc := readValues(t, "values-pvc.yaml")
	if got := lookup(pvc, "persistence", "imageChartStorage", "type"); got != "filesystem" {
		t.Errorf("values-pvc.yaml storage type = %v, want filesystem", got)
	}
}
