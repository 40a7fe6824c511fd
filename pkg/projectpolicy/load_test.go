package projectpolicy

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadExampleFiles(t *testing.T) {
	for _, file := range []string{"../../config/harbor/project.yaml",
		"../../config/harbor/instance.yaml"} {
		t.Run(file, func(t *testing.T) {
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			doc, err := Load(f)
			if err != nil {
				t.Fatalf("Load() error = %v", err)
			}
			if err := doc.Validate(); err != nil {
				t.Errorf("Validate() error = %v", err)
			}
		})
	}
}

func TestLoadProjectFields(t *testing.T) {
	doc, err := Load(strings.NewReader(`
apiVersion: harbor.druppie.dev/v1alpha1
kind: HarborProject
metadata: {name: platform}
spec:
  autoScan: true
  immutableTags: []
  webhooks:
    - name: hook
      eventTypes: [SCANNING_COMPLETED]
      target: {address: "https://core.example/h", authHeader: {file: /tmp/h}}
---
apiVersion: harbor.druppie.dev/v1alpha1
kind: HarborInstance
spec:
  systemCVEAllowlist: {items: [CVE-2024-0001]}
`))
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	if len(doc.Projects) != 1 || len(doc.Instances) != 1 {
		t.Fatalf("Load() = %d projects and %d instances, want 1 and 1", len(doc.Projects),
			len(doc.Instances))
	}
	spec := doc.Projects[0].Spec
	if spec.AutoScan == nil || !*spec.AutoScan {
		t.Errorf("AutoScan = %v, want true", spec.AutoScan)
	}
	if spec.ImmutableTags == nil {
		t.Error("ImmutableTags is nil for an empty list, want an empty list that owns rules")
	}
	if spec.Retention != nil {
		t.Errorf("Retention = %+v, want nil when left out", spec.Retention)
	}
	want := &SecretSource{File: "/tmp/h"}
	if diff := cmp.Diff(want, spec.Webhooks[0].Target.AuthHeader); diff != "" {
		t.Errorf("auth header source (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"CVE-2024-0001"},
		doc.Instances[0].Spec.SystemCVEAllowlist.Items); diff != "" {
		t.Errorf("system allowlist (-want +got):\n%s", diff)
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name, input, wantText string
	}{{
		name: "unknown field with line",
		input: "apiVersion: harbor.druppie.dev/v1alpha1\nkind: HarborProject\n" +
			"metadata: {name: p}\nspec:\n  autoscan: true\n",
		wantText: "line 5: field autoscan not found",
	}, {
		name: "unknown field in second document",
		input: "apiVersion: harbor.druppie.dev/v1alpha1\nkind: HarborProject\n" +
			"metadata: {name: p}\n---\napiVersion: harbor.druppie.dev/v1alpha1\n" +
			"kind: HarborInstance\nspec:\n  oidc: {endpoin: x}\n",
		wantText: "line 8: field endpoin not found",
	}, {
		name:     "wrong apiVersion",
		input:    "apiVersion: v1\nkind: HarborProject\n",
		wantText: `apiVersion is "v1"`,
	}, {
		name:     "unknown kind",
		input:    "apiVersion: harbor.druppie.dev/v1alpha1\nkind: Project\n",
		wantText: `kind is "Project"`,
	}, {
		name:     "empty file",
		input:    "# nothing\n",
		wantText: "contains no document",
	}, {
		name:     "syntax error",
		input:    "apiVersion: [\n",
		wantText: "document 1",
	}, {
		name: "duplicate key",
		input: "apiVersion: harbor.druppie.dev/v1alpha1\nkind: HarborProject\n" +
			"metadata: {name: p}\nspec:\n  public: false\n  public: true\n",
		wantText: `line 6: mapping key "public" already defined at line 5`,
	}, {
		name: "file too large",
		input: "apiVersion: harbor.druppie.dev/v1alpha1\nkind: HarborProject\n" +
			"metadata: {name: p}\n" + strings.Repeat("# padding\n", MaxFileSize/10),
		wantText: "larger than 4194304 bytes",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(strings.NewReader(tt.input))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Load() error = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Load() error = %q, want it to contain %q", err, tt.wantText)
			}
		})
	}
}
