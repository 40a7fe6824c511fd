package harbortest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// webhookPayload is the Default payload, model.Payload of Harbor v2.13
// src/pkg/notifier/model/event.go. Its event_data is also the data of a CloudEvent.
type webhookPayload struct {
	Type      string            `json:"type"`
	OccurAt   int64             `json:"occur_at"`
	Operator  string            `json:"operator"`
	EventData *webhookEventData `json:"event_data,omitempty"`
}

type webhookEventData struct {
	Resources  []*webhookResource `json:"resources,omitempty"`
	Repository *webhookRepository `json:"repository,omitempty"`
	Scan       *webhookScan       `json:"scan,omitempty"`
}

type webhookResource struct {
	Digest       string                     `json:"digest,omitempty"`
	Tag          string                     `json:"tag,omitempty"`
	ResourceURL  string                     `json:"resource_url,omitempty"`
	ScanOverview map[string]*webhookSummary `json:"scan_overview,omitempty"`
}

type webhookRepository struct {
	DateCreated  int64  `json:"date_created,omitempty"`
	Name         string `json:"name"`
	Namespace    string `json:"namespace"`
	RepoFullName string `json:"repo_full_name"`
	RepoType     string `json:"repo_type"`
}

type webhookScan struct {
	ScanType string `json:"scan_type"`
}

// webhookSummary is the scan overview in a webhook: Harbor marshals its Go struct
// vuln.NativeReportSummary there, not the swagger model, so empty values are written
// ("severity":"", "summary":null, "complete_percent":0) and times are RFC 3339.
type webhookSummary struct {
	ReportID        string                  `json:"report_id"`
	ScanStatus      string                  `json:"scan_status"`
	Severity        string                  `json:"severity"`
	Duration        int64                   `json:"duration"`
	Summary         *webhookVulnerabilities `json:"summary"`
	StartTime       time.Time               `json:"start_time"`
	EndTime         time.Time               `json:"end_time"`
	Scanner         *models.Scanner         `json:"scanner,omitempty"`
	CompletePercent int64                   `json:"complete_percent"`
}

type webhookVulnerabilities struct {
	Total   int64            `json:"total"`
	Fixable int64            `json:"fixable"`
	Summary map[string]int64 `json:"summary"`
}

// scanPayload builds the event of one scan task: one resource, the task's digest, the tag
// recorded when the scan started, and the report's overview under its MIME type. The
// event time is the end of the scan. The caller holds s.mu.
func (s *Server) scanPayload(r *report, notice *scanNotice, eventType string,
	now time.Time) *webhookPayload {
	projectName, repoName, _ := strings.Cut(notice.repository, "/")
	repoType := "private"
	if notice.project.public() {
		repoType = "public"
	}
	reference := ":" + notice.tag
	if notice.tag == "" {
		reference = "@" + notice.digest
	}
	overview := s.reportSummary(r, now)
	return &webhookPayload{
		Type:     eventType,
		OccurAt:  r.state(now).end.Unix(),
		Operator: notice.operator,
		EventData: &webhookEventData{
			Resources: []*webhookResource{{
				Digest:       notice.digest,
				Tag:          notice.tag,
				ResourceURL:  s.host + "/" + notice.repository + reference,
				ScanOverview: map[string]*webhookSummary{MimeGenericReport: rawSummary(overview)},
			}},
			Repository: &webhookRepository{
				Name: repoName, Namespace: projectName,
				RepoFullName: notice.repository, RepoType: repoType,
			},
			Scan: &webhookScan{ScanType: "vulnerability"},
		},
	}
}

func rawSummary(m models.NativeReportSummary) *webhookSummary {
	raw := &webhookSummary{
		ReportID:        m.ReportID,
		ScanStatus:      m.ScanStatus,
		Severity:        m.Severity,
		Duration:        m.Duration,
		StartTime:       time.Time(m.StartTime).UTC(),
		EndTime:         time.Time(m.EndTime).UTC(),
		Scanner:         m.Scanner,
		CompletePercent: m.CompletePercent,
	}
	if m.Summary != nil {
		raw.Summary = &webhookVulnerabilities{
			Total: m.Summary.Total, Fixable: m.Summary.Fixable, Summary: m.Summary.Summary,
		}
	}
	return raw
}

func jsonBody(payload *webhookPayload) ([]byte, error) {
	return json.Marshal(payload)
}

// cloudEventTypes maps event types to the CloudEvents types of Harbor v2.13
// src/pkg/notifier/formats/cloudevents.go.
var cloudEventTypes = map[string]string{
	EventScanningCompleted: "harbor.scan.completed",
	EventScanningFailed:    "harbor.scan.failed",
	EventScanningStopped:   "harbor.scan.stopped",
}

// cloudEventBody formats the event as Harbor's CloudEvents formatter does: a structured
// CloudEvents 1.0 event with a fresh id, the policy as source, the extensions requestid
// and operator, and event_data alone as data.
func cloudEventBody(policy *models.WebhookPolicy, payload *webhookPayload) ([]byte, error) {
	eventType, ok := cloudEventTypes[payload.Type]
	if !ok {
		return nil, fmt.Errorf("unknown event type: %s", payload.Type)
	}
	event := cloudevents.NewEvent()
	event.SetID(newUUID())
	event.SetExtension("requestid", newUUID())
	event.SetSource(fmt.Sprintf("/projects/%d/webhook/policies/%d", policy.ProjectID,
		policy.ID))
	event.SetType(eventType)
	event.SetTime(time.Unix(payload.OccurAt, 0))
	event.SetExtension("operator", payload.Operator)
	if err := event.SetData(cloudevents.ApplicationJSON, payload.EventData); err != nil {
		return nil, fmt.Errorf("setting data of CloudEvent: %w", err)
	}
	return json.Marshal(event)
}
