package harbor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/scan"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// ScanStatus is the state of an artifact's vulnerability scan. The first six values are the
// scan_status values of Harbor's job service. The last two stand for an absent scan_overview.
// A value Harbor does not document is kept as it arrives and is not final.
type ScanStatus string

// Scan statuses.
const (
	// ScanPending means that the scan task is queued.
	ScanPending ScanStatus = "Pending"
	// ScanRunning means that the scan job is running.
	ScanRunning ScanStatus = "Running"
	// ScanScheduled is a job-service status for delayed jobs. Harbor v2.13 gives it to no scan
	// task, and it is not final.
	ScanScheduled ScanStatus = "Scheduled"
	// ScanSuccess means that a report with a summary exists.
	ScanSuccess ScanStatus = "Success"
	// ScanError means that the scan failed or timed out.
	ScanError ScanStatus = "Error"
	// ScanStopped means that the scan was stopped by a user.
	ScanStopped ScanStatus = "Stopped"
	// ScanNotStarted means that the artifact has no scan overview but a "vulnerabilities"
	// addition link, so Harbor can scan it and no scan has started yet.
	ScanNotStarted ScanStatus = "NotStarted"
	// ScanNotScannable means that the artifact has neither a scan overview nor a
	// "vulnerabilities" addition link: Harbor has no usable scanner, or the scanner does not
	// support the artifact, such as a cosign signature or a Helm chart.
	ScanNotScannable ScanStatus = "NotScannable"
)

// Final reports whether the status changes only after a new scan request or a configuration
// change in Harbor: true for Success, Error, Stopped and NotScannable.
func (s ScanStatus) Final() bool {
	switch s {
	case ScanSuccess, ScanError, ScanStopped, ScanNotScannable:
		return true
	}
	return false
}

// vulnerabilitiesLink is the addition link that Harbor sets only on scannable artifacts.
const vulnerabilitiesLink = "vulnerabilities"

// Scan is the summary of one artifact's vulnerability scan, taken from its scan overview.
type Scan struct {
	// Status is the state of the scan.
	Status ScanStatus
	// ReportID is Harbor's report UUID. For an image index it is Harbor's merged ID of the
	// child reports.
	ReportID string
	// Severity is the highest severity found, such as "High", or "None" when nothing was
	// found. It is set only on Success.
	Severity string
	// Total is the number of vulnerabilities, without duplicates. It is set only on Success.
	Total int64
	// Fixable is the number of vulnerabilities that have a fixed version.
	Fixable int64
	// Counts maps a severity, such as "Critical", to its number of vulnerabilities. Harbor
	// leaves out severities that do not occur, so a missing key means 0. It is nil unless
	// Status is Success.
	Counts map[string]int64
	// CompletePercent is the share of finished scans in percent. For an image index, a
	// Success below 100 means that some platform images failed to scan.
	CompletePercent int64
	// Scanner is the scanner's name and version, such as "Trivy v0.69.3". Harbor sets it
	// only on Success.
	Scanner string
	// Start and End are the scan task's times. They are zero while the scan is queued or
	// has not finished.
	Start, End time.Time
	// MIMEType is the report type that the overview was read from.
	MIMEType string
}

// Scan reads the artifact's scan overview with one request. Harbor's Trivy adapter produces
// reports of MIMETypeGenericReport. An overview of MIMETypeNativeReport is accepted too.
// A malformed overview, such as a Success without a summary, returns an error wrapping
// ErrUnexpectedResponse.
func (c *Client) Scan(ctx context.Context, ref ArtifactRef) (Scan, error) {
	a, err := c.Artifact(ctx, ref)
	if err != nil {
		return Scan{}, err
	}
	s, err := scanFromArtifact(a)
	if err != nil {
		return Scan{}, fmt.Errorf("reading scan overview of %s: %w", ref, err)
	}
	return s, nil
}

// scanFromArtifact converts an artifact's scan overview into a Scan.
func scanFromArtifact(a *models.Artifact) (Scan, error) {
	mimeType, summary, found := overview(a.ScanOverview)
	if !found {
		if len(a.ScanOverview) > 0 {
			return Scan{}, fmt.Errorf("%w: the scan overview has only the report types %q, "+
				"expected %q or %q", ErrUnexpectedResponse,
				slices.Sorted(maps.Keys(a.ScanOverview)), MIMETypeGenericReport, MIMETypeNativeReport)
		}
		if _, ok := a.AdditionLinks[vulnerabilitiesLink]; ok {
			return Scan{Status: ScanNotStarted}, nil
		}
		return Scan{Status: ScanNotScannable}, nil
	}
	return scanFromSummary(mimeType, summary)
}

// scanFromSummary converts the overview of one report type into a Scan.
func scanFromSummary(mimeType string, summary models.NativeReportSummary) (Scan, error) {
	s := Scan{
		Status:          ScanStatus(summary.ScanStatus),
		ReportID:        summary.ReportID,
		Severity:        summary.Severity,
		CompletePercent: summary.CompletePercent,
		Start:           time.Time(summary.StartTime),
		End:             time.Time(summary.EndTime),
		MIMEType:        mimeType,
	}
	if summary.Scanner != nil {
		s.Scanner = summary.Scanner.Name
		if summary.Scanner.Version != "" {
			s.Scanner += " " + summary.Scanner.Version
		}
	}
	switch {
	case s.Status == "":
		return Scan{}, fmt.Errorf("%w: the %s overview has no scan_status",
			ErrUnexpectedResponse, mimeType)
	case s.Status != ScanSuccess:
		return s, nil
	case summary.Summary == nil || summary.Severity == "":
		return Scan{}, fmt.Errorf("%w: the %s overview has scan_status Success "+
			"but no severity or summary", ErrUnexpectedResponse, mimeType)
	}
	s.Total = summary.Summary.Total
	s.Fixable = summary.Summary.Fixable
	s.Counts = make(map[string]int64, len(summary.Summary.Summary))
	maps.Copy(s.Counts, summary.Summary.Summary)
	return s, nil
}

// overview returns the summary for the first known report type in the overview.
func overview(o models.ScanOverview) (string, models.NativeReportSummary, bool) {
	for _, mimeType := range []string{MIMETypeGenericReport, MIMETypeNativeReport} {
		if summary, ok := o[mimeType]; ok {
			return mimeType, summary, true
		}
	}
	return "", models.NativeReportSummary{}, false
}

// StartScan requests a vulnerability scan of the artifact. Harbor returns 202 once the scan
// task is queued. When a scan of the digest is already Pending or Running, the error
// wraps ErrScanInProgress, and the caller should keep polling. When Harbor cannot scan the
// artifact (400: unsupported artifact or unreachable scanner; 412: no scanner or a
// deactivated one), the error wraps ErrNotScannable and carries Harbor's message.
func (c *Client) StartScan(ctx context.Context, ref ArtifactRef) error {
	if err := ref.Validate(); err != nil {
		return fmt.Errorf("starting scan: %w", err)
	}
	cl := c.newCall(ref.Project, "starting scan of %s", ref)
	params := scan.NewScanArtifactParamsWithTimeout(c.timeout).
		WithProjectName(ref.Project).
		WithRepositoryName(ref.repositoryParam()).
		WithReference(ref.Digest).
		WithScanType(&models.ScanType{ScanType: models.ScanTypeScanTypeVulnerability}).
		WithXRequestID(&cl.requestID)
	if _, err := c.api.Scan.ScanArtifact(ctx, params); err != nil {
		return classifyScanError(cl.wrap(err))
	}
	return nil
}

// classifyScanError adds ErrScanInProgress or ErrNotScannable to an error of POST .../scan.
func classifyScanError(err error) error {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		return err
	}
	switch apiErr.StatusCode {
	case http.StatusConflict:
		return fmt.Errorf("%w: %w", ErrScanInProgress, err)
	case http.StatusBadRequest, http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %w", ErrNotScannable, err)
	}
	return err
}
