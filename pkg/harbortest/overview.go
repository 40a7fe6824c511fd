package harbortest

import (
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// acceptedReportTypes parses X-Accept-Vulnerabilities as Harbor v2.13 does in
// src/server/v2.0/handler/util.go. Items are trimmed and compared as exact strings, and
// unknown items are dropped. A header with no known item means the native type only. An
// absent header means the swagger default: the generic type first, then the native one.
func acceptedReportTypes(header http.Header) []string {
	values, present := header[http.CanonicalHeaderKey("X-Accept-Vulnerabilities")]
	if !present {
		return []string{MimeGenericReport, MimeNativeReport}
	}
	var accepted []string
	for _, value := range values {
		for item := range strings.SplitSeq(value, ",") {
			item = strings.TrimSpace(item)
			if item == MimeGenericReport || item == MimeNativeReport {
				accepted = append(accepted, item)
			}
		}
	}
	if len(accepted) == 0 {
		return []string{MimeNativeReport}
	}
	return accepted
}

// scanOverview builds the artifact's scan_overview for the first accepted MIME type that
// has a report, or returns nil when Harbor shows none. The caller holds s.mu.
func (s *Server) scanOverview(a *artifact, accepted []string, now time.Time) models.ScanOverview {
	if !s.scannerUsable(a.repo.project) || !s.isScannable(a) {
		return nil
	}
	for _, mime := range accepted {
		var reports []*report
		for _, target := range s.scanTargets(a) {
			r := s.reports[reportKey{digest: target.digest, mime: mime}]
			if r == nil {
				// Harbor shows no overview for an index while any child lacks a report.
				reports = nil
				break
			}
			reports = append(reports, r)
		}
		if len(reports) == 0 {
			continue
		}
		var summary models.NativeReportSummary
		if a.isIndex() {
			summary = s.mergedSummary(reports, now)
		} else {
			summary = s.reportSummary(reports[0], now)
		}
		return models.ScanOverview{mime: summary}
	}
	return nil
}

// reportSummary builds the overview of one report. Severity, summary, duration,
// complete_percent and scanner appear only once the scan succeeded.
func (s *Server) reportSummary(r *report, now time.Time) models.NativeReportSummary {
	st := r.state(now)
	summary := models.NativeReportSummary{
		ReportID:   r.uuid,
		ScanStatus: st.status,
		StartTime:  apiTime(st.start),
		EndTime:    apiTime(st.end),
	}
	if st.status == StatusSuccess {
		s.fillSuccess(&summary, r.outcome.vulnerabilities, st.start, st.end)
		summary.CompletePercent = 100
	}
	return summary
}

// mergedSummary aggregates the reports of an index's children as Harbor v2.13 does in
// src/pkg/scan/vuln/util.go and summary.go. The merged status is Running if any child runs,
// else Stopped if any stopped, else Success if any succeeded, else the more advanced one.
// complete_percent is the share of children that succeeded. The report id is the base64
// of the child ids joined by "|".
func (s *Server) mergedSummary(reports []*report, now time.Time) models.NativeReportSummary {
	var ids []string
	var vulnerabilities []Vulnerability
	var start, end time.Time
	statuses := map[string]bool{}
	succeeded := 0
	for _, r := range reports {
		st := r.state(now)
		ids = append(ids, r.uuid)
		statuses[st.status] = true
		if !st.start.IsZero() && (start.IsZero() || st.start.Before(start)) {
			start = st.start
		}
		if st.end.After(end) {
			end = st.end
		}
		if st.status == StatusSuccess {
			succeeded++
			vulnerabilities = append(vulnerabilities, r.outcome.vulnerabilities...)
		}
	}
	summary := models.NativeReportSummary{
		ReportID:   base64.StdEncoding.EncodeToString([]byte(strings.Join(ids, "|"))),
		ScanStatus: mergeStatuses(statuses),
		StartTime:  apiTime(start),
		EndTime:    apiTime(end),
	}
	if summary.ScanStatus == StatusSuccess {
		s.fillSuccess(&summary, vulnerabilities, start, end)
		summary.CompletePercent = int64(succeeded * 100 / len(reports))
	}
	return summary
}

func mergeStatuses(statuses map[string]bool) string {
	for _, status := range []string{StatusRunning, StatusStopped, StatusSuccess, StatusError} {
		if statuses[status] {
			return status
		}
	}
	return StatusPending
}

func (s *Server) fillSuccess(summary *models.NativeReportSummary, found []Vulnerability,
	start, end time.Time) {
	summary.Severity, summary.Summary = summarize(found)
	summary.Duration = max(int64(end.Sub(start)/time.Second), 0)
	info := s.fixture.scannerInfo()
	summary.Scanner = &models.Scanner{Name: info.Name, Vendor: info.Vendor, Version: info.Version}
}

// summarize counts findings as Harbor does. The total is deduplicated by (id, package,
// version), and fixable counts the findings with a fix version. The inner map contains
// only the severities that occur. The overall severity is the highest, or None when clean.
func summarize(found []Vulnerability) (string, *models.VulnerabilitySummary) {
	summary := &models.VulnerabilitySummary{Summary: map[string]int64{}}
	severity := "None"
	for _, v := range dedupe(found) {
		summary.Total++
		if v.FixVersion != "" {
			summary.Fixable++
		}
		summary.Summary[v.Severity]++
		if severityCodes[v.Severity] > severityCodes[severity] || severity == "None" {
			severity = v.Severity
		}
	}
	return severity, summary
}

func dedupe(found []Vulnerability) []Vulnerability {
	type identity struct{ id, pkg, version string }
	seen := map[identity]bool{}
	var unique []Vulnerability
	for _, v := range found {
		key := identity{v.ID, v.Package, v.Version}
		if !seen[key] {
			seen[key] = true
			unique = append(unique, v)
		}
	}
	return unique
}

// apiTime converts a time for the API. strfmt writes the zero time as
// 0001-01-01T00:00:00.000Z, as Harbor does for a scan that has not started or ended.
func apiTime(t time.Time) strfmt.DateTime {
	return strfmt.DateTime(t.UTC())
}

// vulnerabilityReport is the body of the vulnerabilities addition for one MIME type, the
// generic report format of Harbor v2.13 src/pkg/scan/vuln/report.go. go-client has no model
// for it because the swagger declares the addition as a string.
type vulnerabilityReport struct {
	GeneratedAt     strfmt.DateTime     `json:"generated_at"`
	Scanner         ScannerInfo         `json:"scanner"`
	Severity        string              `json:"severity"`
	Vulnerabilities []vulnerabilityItem `json:"vulnerabilities"`
}

type vulnerabilityItem struct {
	ID          string   `json:"id"`
	Package     string   `json:"package"`
	Version     string   `json:"version"`
	FixVersion  string   `json:"fix_version,omitempty"`
	Severity    string   `json:"severity"`
	Description string   `json:"description,omitempty"`
	Links       []string `json:"links"`
}

// vulnerabilityAddition builds the addition for the first accepted MIME type whose reports
// all succeeded. It returns an empty map when there is none. The caller holds s.mu.
func (s *Server) vulnerabilityAddition(a *artifact, accepted []string,
	now time.Time) map[string]vulnerabilityReport {
	addition := map[string]vulnerabilityReport{}
	if !s.scannerUsable(a.repo.project) {
		return addition
	}
	for _, mime := range accepted {
		var found []Vulnerability
		var generated time.Time
		complete := len(s.scanTargets(a)) > 0
		for _, target := range s.scanTargets(a) {
			r := s.reports[reportKey{digest: target.digest, mime: mime}]
			if r == nil || r.state(now).status != StatusSuccess {
				complete = false
				break
			}
			found = append(found, r.outcome.vulnerabilities...)
			if end := r.state(now).end; end.After(generated) {
				generated = end
			}
		}
		if !complete {
			continue
		}
		addition[mime] = s.buildReport(found, generated)
		return addition
	}
	return addition
}

func (s *Server) buildReport(found []Vulnerability, generated time.Time) vulnerabilityReport {
	severity, _ := summarize(found)
	body := vulnerabilityReport{
		GeneratedAt:     apiTime(generated),
		Scanner:         s.fixture.scannerInfo(),
		Severity:        severity,
		Vulnerabilities: []vulnerabilityItem{},
	}
	for _, v := range dedupe(found) {
		body.Vulnerabilities = append(body.Vulnerabilities, vulnerabilityItem{
			ID: v.ID, Package: v.Package, Version: v.Version, FixVersion: v.FixVersion,
			Severity: v.Severity, Description: v.Description, Links: []string{},
		})
	}
	return body
}
