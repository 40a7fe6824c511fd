package harbor

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/go-openapi/runtime"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"

	"github.com/druppie/harbor-gate/pkg/policy"
)

// documentedStatuses lists every ScanStatus constant.
var documentedStatuses = map[ScanStatus]bool{
	ScanPending: true, ScanRunning: true, ScanScheduled: true, ScanSuccess: true,
	ScanError: true, ScanStopped: true, ScanNotStarted: true, ScanNotScannable: true,
}

// FuzzScanOverview decodes any bytes as the body of GET .../artifacts/{reference}, as
// go-client does for Client.Scan, checks them for duplicated keys as Client.Scan does, and
// converts the artifact with scanFromArtifact. The
// conversion must not panic and may fail only with ErrUnexpectedResponse. It keeps an
// undocumented status as it arrived and never treats it as final. The default policy
// must pass only a Success with a summary and a CompletePercent of 100.
func FuzzScanOverview(f *testing.F) {
	const artifact = `{"id":1,"digest":"` + testDigest + `","type":"IMAGE",` +
		`"manifest_media_type":"application/vnd.oci.image.manifest.v1+json",` +
		`"addition_links":{"vulnerabilities":{"href":"/api/v2.0/vulns","absolute":false}},`
	const summary = `"report_id":"r-1","severity":"High","duration":14,` +
		`"start_time":"2025-01-01T10:00:01Z","end_time":"2025-01-01T10:00:15.123456789Z",` +
		`"scanner":{"name":"Trivy","vendor":"Aqua Security","version":"v0.69.3"},`
	generic := `{"` + MIMETypeGenericReport + `":`
	native := `{"` + MIMETypeNativeReport + `":`
	seeds := []string{
		// Overviews as Harbor v2.13 returns them.
		artifact + `"scan_overview":` + generic + `{` + summary + `"scan_status":"Success",` +
			`"summary":{"total":5,"fixable":3,"summary":{"High":2,"Low":3}},` +
			`"complete_percent":100}}}`,
		artifact + `"scan_overview":` + native + `{` + summary + `"scan_status":"Success",` +
			`"summary":{"total":1,"fixable":0,"summary":{"Critical":1}},` +
			`"complete_percent":100}}}`,
		artifact + `"scan_overview":` + generic + `{"report_id":"r-2","scan_status":"Success",` +
			`"severity":"None","summary":{"total":0,"fixable":0,"summary":{}},` +
			`"complete_percent":100}}}`,
		artifact + `"scan_overview":` + generic + `{"report_id":"r-3","scan_status":"Pending",` +
			`"start_time":"0001-01-01T00:00:00Z","end_time":"0001-01-01T00:00:00Z"}}}`,
		artifact + `"scan_overview":` + generic + `{"scan_status":"Running",` +
			`"complete_percent":50}}}`,
		artifact + `"scan_overview":` + generic + `{"scan_status":"Error"}}}`,
		artifact + `"scan_overview":` + generic + `{"scan_status":"Stopped"}}}`,
		artifact + `"scan_overview":` + generic + `{"scan_status":"Success","severity":"High",` +
			`"summary":{"total":2,"summary":{"High":2}},"complete_percent":50}}}`,
		artifact + `"scan_overview":null}`,
		`{"id":1,"digest":"` + testDigest + `","type":"CHART"}`,
		// Overviews that must not pass.
		artifact + `"scan_overview":` + generic + `{"scan_status":"Success","severity":"None",` +
			`"complete_percent":100}}}`,
		artifact + `"scan_overview":` + generic + `{"scan_status":"Success",` +
			`"summary":{"summary":{}},"complete_percent":100}}}`,
		artifact + `"scan_overview":` + generic + `{"scan_status":"",` +
			`"summary":{"summary":{}},"complete_percent":100}}}`,
		artifact + `"scan_overview":` + generic + `{"scan_status":"success","severity":"None",` +
			`"summary":{"summary":{}},"complete_percent":100}}}`,
		artifact + `"scan_overview":` + generic + `{"scan_status":"Success","severity":"None",` +
			`"summary":{"summary":{"Critical":-1,"High":0}},"complete_percent":100}}}`,
		artifact + `"scan_overview":` + generic + `{"scan_status":"Success","severity":"None",` +
			`"summary":{"summary":{"critical":1,"Critical\u0000":1}},"complete_percent":100}}}`,
		artifact + `"scan_overview":{"application/vnd.other":{"scan_status":"Success"}}}`,
		artifact + `"scan_overview":` + generic + `{"scan_status":"Success","severity":"None",` +
			`"summary":{"summary":{}},"complete_percent":101}}}`,
		artifact + `"scan_overview":` + generic + `{"scan_status":7}}}`,
		artifact + `"scan_overview":` + generic + `{"complete_percent":1e999}}}`,
		artifact + `"scan_overview":[]}`,
		// Duplicated keys, which Client.Scan rejects before it reads the overview.
		artifact + `"scan_overview":` + generic + `{"scan_status":"Success","severity":"None",` +
			`"summary":{"summary":{"Critical":4,"Critical":0}},"complete_percent":100}}}`,
		artifact + `"scan_overview":` + generic + `{"scan_status":"Error","severity":"None",` +
			`"summary":{"summary":{}},"complete_percent":100,"Scan_Status":"Success"}}}`,
		`{"digest":"` + testDigest + `","scan_overview":` + generic + `null}}`,
		`null`, `{}`, `[]`, `"x"`, ``, `{"scan_overview":{"":{}}}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var a models.Artifact
		if err := runtime.JSONConsumer().Consume(bytes.NewReader(body), &a); err != nil {
			t.Skip("go-client returns the decoding error before Scan reads the overview")
		}
		if err := checkUniqueKeys(body); err != nil {
			// The body decoded, so the only reason left is a duplicated key.
			if !strings.Contains(err.Error(), "occurs twice") {
				t.Errorf("checkUniqueKeys error = %v for a body that decodes, want a "+
					"duplicated key", err)
			}
			return
		}
		s, err := scanFromArtifact(&a)
		if err != nil {
			if !errors.Is(err, ErrUnexpectedResponse) {
				t.Errorf("scanFromArtifact error = %v, want it to wrap %v", err,
					ErrUnexpectedResponse)
			}
			return
		}
		checkScanStatus(t, &a, s)
		checkDefaultPolicy(t, s)
	})
}

// checkScanStatus checks s.Status against the overview it was read from.
func checkScanStatus(t *testing.T, a *models.Artifact, s Scan) {
	t.Helper()
	if s.MIMEType == "" && s.Status != ScanNotStarted && s.Status != ScanNotScannable {
		t.Errorf("status = %q without a report type, want NotStarted or NotScannable",
			s.Status)
	}
	if !documentedStatuses[s.Status] {
		raw := a.ScanOverview[s.MIMEType].ScanStatus
		if string(s.Status) != raw {
			t.Errorf("status = %q, want a documented status or the scan_status %q", s.Status,
				raw)
		}
		if s.Status.Final() {
			t.Errorf("undocumented status %q is final", s.Status)
		}
	}
	if (s.Status == ScanSuccess) != (s.Counts != nil) {
		t.Errorf("status = %q with Counts %v, want Counts set exactly on Success", s.Status,
			s.Counts)
	}
}

// checkDefaultPolicy evaluates s as the gate does and checks that only a complete,
// successful scan with a summary and no Critical or unrecognised finding can pass.
func checkDefaultPolicy(t *testing.T, s Scan) {
	t.Helper()
	report := policy.Report{
		Status:          string(s.Status),
		Counts:          s.Counts,
		CompletePercent: s.CompletePercent,
	}
	verdict := policy.DefaultPolicy().Evaluate(report)
	if !verdict.Passed() {
		return
	}
	if s.Status != ScanSuccess || s.Counts == nil || s.CompletePercent != 100 {
		t.Errorf("the default policy passed a scan with status %q, counts %v and "+
			"CompletePercent %d, want only a Success with a summary at 100 percent",
			s.Status, s.Counts, s.CompletePercent)
	}
	for name, n := range s.Counts {
		severity, err := policy.ParseSeverity(name)
		if n > 0 && (err != nil || severity == policy.SeverityCritical) {
			t.Errorf("the default policy passed a scan with %d findings of severity %q",
				n, name)
		}
	}
}
