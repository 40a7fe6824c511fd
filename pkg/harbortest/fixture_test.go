package harbortest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseFixtureErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{name: "unknown field", yaml: "rules:\n  - repositry: x\n", want: `"repositry"`},
		{name: "bad status", yaml: "rules:\n  - status: Done\n", want: `invalid status "Done"`},
		{name: "bad severity", yaml: "rules:\n  - vulnerabilities:\n" +
			"      - {id: C, package: p, version: 1, severity: Severe}\n",
			want: `invalid severity "Severe"`},
		{name: "bad duration", yaml: "pending: soon\n", want: `invalid duration "soon"`},
		{name: "bad glob", yaml: "rules:\n  - repository: \"[\"\n", want: `invalid glob "["`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFixture([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseFixture() error = %v, want it to contain %s", err, tc.want)
			}
		})
	}
}

func TestDefaultFixtureOutcomes(t *testing.T) {
	fixture := DefaultFixture()
	tests := []struct {
		name       string
		repository string
		want       string
	}{
		{name: "vulnerable repository", repository: "demo/vulnerable-app", want: "Critical"},
		{name: "other repository", repository: "demo/app", want: "Low"},
		{name: "nested repository", repository: "demo/team/app", want: "Low"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := fixture.outcome(tc.repository, "", nil)
			severity, _ := summarize(out.vulnerabilities)
			if severity != tc.want || out.final != StatusSuccess {
				t.Errorf("outcome = %s %s, want Success %s", out.final, severity, tc.want)
			}
		})
	}
	if diff := cmp.Diff(ScannerInfo{Name: "Trivy", Vendor: "Aqua Security",
		Version: "v0.69.3"}, fixture.scannerInfo()); diff != "" {
		t.Errorf("scanner (-want +got):\n%s", diff)
	}
}

func TestFixtureRuleTagAndTiming(t *testing.T) {
	fixture, err := ParseFixture([]byte(`
pending: 1s
rules:
  - repository: "demo/*"
    tag: "v*"
    status: Error
    running: 5s
`))
	if err != nil {
		t.Fatal(err)
	}
	tagged := fixture.outcome("demo/app", "", []string{"latest", "v2"})
	if tagged.final != StatusError || tagged.pending.String() != "1s" ||
		tagged.running.String() != "5s" {
		t.Errorf("tagged outcome = %+v, want Error after 1s + 5s", tagged)
	}
	untagged := fixture.outcome("demo/app", "", []string{"latest"})
	if untagged.final != StatusSuccess || untagged.running != DefaultRunning {
		t.Errorf("untagged outcome = %+v, want the clean default", untagged)
	}
}

func TestSwaggerValidatorRejectsWrongBody(t *testing.T) {
	route, _, _ := matchRoute(http.MethodGet, splitSegments(
		"projects/p/repositories/r/artifacts/v1"))
	schema, err := responseSchema(route, http.StatusOK)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]any{"id": "not a number", "scan_overview": map[string]any{
		MimeGenericReport: map[string]any{"complete_percent": "half"}}}
	if err := validateAgainst(schema, bad); err == nil {
		t.Error("validateAgainst() = nil for a wrongly typed artifact, want an error")
	}
}
