package harbor

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-cmp/cmp"
)

func TestScanStatusFinal(t *testing.T) {
	tests := []struct {
		status ScanStatus
		want   bool
	}{
		{ScanPending, false},
		{ScanRunning, false},
		{ScanScheduled, false},
		{ScanNotStarted, false},
		{ScanStatus("Queued"), false},
		{ScanSuccess, true},
		{ScanError, true},
		{ScanStopped, true},
		{ScanNotScannable, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			if got := tt.status.Final(); got != tt.want {
				t.Errorf("ScanStatus(%q).Final() = %t, want %t", tt.status, got, tt.want)
			}
		})
	}
}

func TestScanReadsOverview(t *testing.T) {
	bothKeys := finished(MIMETypeGenericReport)
	bothKeys[MIMETypeNativeReport] = inProgress(ScanError)[MIMETypeGenericReport]
	clean := finished(MIMETypeGenericReport)
	cleanSummary := clean[MIMETypeGenericReport]
	cleanSummary.Severity = "None"
	cleanSummary.Summary = &models.VulnerabilitySummary{Summary: map[string]int64{}}
	clean[MIMETypeGenericReport] = cleanSummary
	wantClean := finishedScan(MIMETypeGenericReport)
	wantClean.Severity, wantClean.Total, wantClean.Fixable = "None", 0, 0
	wantClean.Counts = map[string]int64{}

	tests := []struct {
		name     string
		artifact *models.Artifact
		want     Scan
	}{
		{
			name:     "generic report",
			artifact: scannableArtifact(finished(MIMETypeGenericReport)),
			want:     finishedScan(MIMETypeGenericReport),
		},
		{
			name:     "native report",
			artifact: scannableArtifact(finished(MIMETypeNativeReport)),
			want:     finishedScan(MIMETypeNativeReport),
		},
		{
			name:     "both reports prefer generic",
			artifact: scannableArtifact(bothKeys),
			want:     finishedScan(MIMETypeGenericReport),
		},
		{name: "clean image", artifact: scannableArtifact(clean), want: wantClean},
		{
			name:     "pending",
			artifact: scannableArtifact(inProgress(ScanPending)),
			want: Scan{Status: ScanPending, ReportID: "5f62c830-f996-11e9-957f-0242c0a89008",
				MIMEType: MIMETypeGenericReport},
		},
		{
			name:     "undocumented status kept",
			artifact: scannableArtifact(inProgress("Queued")),
			want: Scan{Status: "Queued", ReportID: "5f62c830-f996-11e9-957f-0242c0a89008",
				MIMEType: MIMETypeGenericReport},
		},
		{name: "not started", artifact: scannableArtifact(nil), want: Scan{Status: ScanNotStarted}},
		{name: "not scannable", artifact: unscannableArtifact(nil), want: Scan{Status: ScanNotScannable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeHarbor()
			fake.handle("GET "+artifactPath, replyArtifact(tt.artifact))
			c := startFake(t, fake)

			got, err := c.Scan(context.Background(), testRef)
			if err != nil {
				t.Fatalf("Scan() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Scan() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScanRejectsMalformedOverview(t *testing.T) {
	noSummary := finished(MIMETypeGenericReport)
	summary := noSummary[MIMETypeGenericReport]
	summary.Summary = nil
	noSummary[MIMETypeGenericReport] = summary

	tests := []struct {
		name     string
		overview models.ScanOverview
		wantText string
	}{
		{name: "success without summary", overview: noSummary, wantText: "no severity or summary"},
		{name: "empty status", overview: inProgress(""), wantText: "has no scan_status"},
		{
			name:     "unknown report type",
			overview: models.ScanOverview{"application/spdx+json": {ScanStatus: "Success"}},
			wantText: "application/spdx+json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeHarbor()
			fake.handle("GET "+artifactPath, replyArtifact(scannableArtifact(tt.overview)))
			c := startFake(t, fake)

			got, err := c.Scan(context.Background(), testRef)
			if !errors.Is(err, ErrUnexpectedResponse) {
				t.Fatalf("Scan() error = %v, want ErrUnexpectedResponse", err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Scan() error = %q, want it to contain %q", err, tt.wantText)
			}
			if got.Status == ScanSuccess {
				t.Errorf("Scan() status = Success for a malformed overview")
			}
		})
	}
}

func TestStartScan(t *testing.T) {
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		wantIs    []error
		wantIsNot []error
		wantText  string
	}{
		{
			name:      "accepted",
			handler:   func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) },
			wantIsNot: []error{ErrScanInProgress, ErrNotScannable},
		},
		{
			name:     "already running",
			handler:  replyError(http.StatusConflict, "CONFLICT", "a previous scan process is Running"),
			wantIs:   []error{ErrScanInProgress, ErrConflict},
			wantText: "a previous scan process is Running",
		},
		{
			name:     "no scanner",
			handler:  replyError(http.StatusPreconditionFailed, "PRECONDITION", "no available scanner for project: 7"),
			wantIs:   []error{ErrNotScannable, ErrPrecondition},
			wantText: "no available scanner for project: 7 (HTTP 412 PRECONDITION",
		},
		{
			name: "unsupported artifact",
			handler: replyError(http.StatusBadRequest, "BAD_REQUEST", "the configured scanner Trivy does "+
				"not support scanning artifact with mime type application/vnd.oci.image.index.v1+json"),
			wantIs:   []error{ErrNotScannable},
			wantText: "does not support scanning artifact",
		},
		{
			name:      "server error",
			handler:   replyError(http.StatusInternalServerError, "UNKNOWN", "internal server error"),
			wantIsNot: []error{ErrScanInProgress, ErrNotScannable},
			wantText:  "HTTP 500",
		},
		{
			name:      "forbidden",
			handler:   replyError(http.StatusForbidden, "FORBIDDEN", "forbidden"),
			wantIs:    []error{ErrForbidden},
			wantIsNot: []error{ErrScanInProgress, ErrNotScannable},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeHarbor()
			path := "/api/v2.0/projects/proj/repositories/team%252Fapp/artifacts/" + testDigest + "/scan"
			fake.handle("POST "+path, tt.handler)
			c := startFake(t, fake)
			ref := ArtifactRef{Project: "proj", Repository: "team/app", Digest: testDigest}

			err := c.StartScan(context.Background(), ref)
			if (err != nil) != (len(tt.wantIs) > 0 || tt.wantText != "") {
				t.Fatalf("StartScan() error = %v", err)
			}
			for _, target := range tt.wantIs {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = false, want true", err, target)
				}
			}
			for _, target := range tt.wantIsNot {
				if errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = true, want false", err, target)
				}
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("StartScan() error = %q, want it to contain %q", err, tt.wantText)
			}
			if got, want := fake.recorded()[0].Body, `{"scan_type":"vulnerability"}`; strings.TrimSpace(got) != want {
				t.Errorf("request body = %q, want %q", got, want)
			}
		})
	}
}
