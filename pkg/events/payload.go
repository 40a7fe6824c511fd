package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Harbor event types of final scan statuses, as Harbor v2.13 names them in
// src/controller/event/topic.go. Harbor derives them from the scan task's final status:
// Success, Error and Stopped.
const (
	EventScanningCompleted = "SCANNING_COMPLETED"
	EventScanningFailed    = "SCANNING_FAILED"
	EventScanningStopped   = "SCANNING_STOPPED"
)

// Payload formats of a Harbor webhook target of type http.
const (
	// FormatDefault is Harbor's own JSON payload, sent as application/json.
	FormatDefault = "Default"
	// FormatCloudEvents is a CloudEvents 1.0 event in structured mode, sent as
	// application/cloudevents+json, whose data is the Default payload's event_data.
	FormatCloudEvents = "CloudEvents"
)

// cloudEventScanTypes maps the CloudEvents types of Harbor's scan events, from Harbor
// v2.13 src/pkg/notifier/formats/cloudevents.go, to Harbor event types.
var cloudEventScanTypes = map[string]string{
	"harbor.scan.completed": EventScanningCompleted,
	"harbor.scan.failed":    EventScanningFailed,
	"harbor.scan.stopped":   EventScanningStopped,
}

// Report MIME types in a scan overview, in the order that Delivery.ScanStatus prefers them.
var reportTypes = []string{
	"application/vnd.security.vulnerability.report; version=1.1",
	"application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0",
}

// Delivery is one scanned artifact from a Harbor scan event. It is a hint that the scan of
// Digest reached a final status. Callers read Harbor again before they decide, so a
// duplicate, replayed or out-of-order delivery changes nothing.
type Delivery struct {
	// EventType is the Harbor event type, for example SCANNING_COMPLETED, in both formats.
	EventType string
	// Format is FormatDefault or FormatCloudEvents.
	Format string
	// EventID is the CloudEvents id, or empty in the Default format.
	EventID string
	// Repository is "<project>/<repository>", the payload's repo_full_name.
	Repository string
	// Digest is the scanned digest. For an image index, Harbor scans each child and sends
	// one event per child digest.
	Digest string
	// Tag is the tag that Harbor recorded when the scan started. It is often empty.
	Tag string
	// ScanStatus is the scan_status of the resource's scan overview, such as Success,
	// Error or Stopped, or empty when the payload carries no overview.
	ScanStatus string
	// Operator is the user or robot that started the scan, as Harbor reports it.
	Operator string
	// OccurredAt is when Harbor raised the event, with a precision of one second.
	OccurredAt time.Time
}

// defaultPayload is Harbor's Default webhook payload, model.Payload in Harbor v2.13
// src/pkg/notifier/model/event.go, reduced to the fields that the receiver reads.
type defaultPayload struct {
	Type      string     `json:"type"`
	OccurAt   int64      `json:"occur_at"`
	Operator  string     `json:"operator"`
	EventData *eventData `json:"event_data"`
}

// eventData is the payload's event_data, which is also the data of a CloudEvents payload.
type eventData struct {
	Resources  []resource `json:"resources"`
	Repository *struct {
		RepoFullName string `json:"repo_full_name"`
	} `json:"repository"`
}

// resource is one artifact of an event. Its scan_overview has the fields of go-client's
// NativeReportSummary, keyed by report MIME type.
type resource struct {
	Digest       string              `json:"digest"`
	Tag          string              `json:"tag"`
	ScanOverview models.ScanOverview `json:"scan_overview"`
}

// errMalformed marks payloads that do not decode as a Harbor webhook payload.
var errMalformed = errors.New("malformed webhook payload")

// notice is a decoded webhook request before it is split into deliveries.
type notice struct {
	eventType  string // Harbor event type, or the CloudEvents type when it maps to none
	scan       bool   // whether the event announces a final scan status
	format     string
	eventID    string
	operator   string
	occurredAt time.Time
	data       *eventData
}

// decodeDefault decodes a Default payload.
func decodeDefault(body []byte) (notice, error) {
	var payload defaultPayload
	if err := json.Unmarshal(body, &payload); err != nil {
		return notice{}, fmt.Errorf("%w: decoding Default payload: %w", errMalformed, err)
	}
	if payload.Type == "" {
		return notice{}, fmt.Errorf("%w: Default payload has no type", errMalformed)
	}
	return notice{
		eventType:  payload.Type,
		scan:       isScanEventType(payload.Type),
		format:     FormatDefault,
		operator:   payload.Operator,
		occurredAt: time.Unix(payload.OccurAt, 0).UTC(),
		data:       payload.EventData,
	}, nil
}

// decodeCloudEvent decodes a CloudEvents payload in structured or binary mode with the
// CloudEvents SDK and validates its required attributes.
func decodeCloudEvent(ctx context.Context, header http.Header, body []byte) (notice, error) {
	message := cehttp.NewMessage(header, io.NopCloser(bytes.NewReader(body)))
	event, err := binding.ToEvent(ctx, message)
	if err != nil {
		return notice{}, fmt.Errorf("%w: decoding CloudEvent: %w", errMalformed, err)
	}
	// ToEvent of sdk-go v2.16.2 does not check a structured event's required attributes,
	// so an event without an id would pass without this check.
	if err := event.Validate(); err != nil {
		return notice{}, fmt.Errorf("%w: decoding CloudEvent: %w", errMalformed, err)
	}
	n := notice{
		eventType:  event.Type(),
		format:     FormatCloudEvents,
		eventID:    event.ID(),
		occurredAt: event.Time().UTC(),
	}
	if operator, ok := event.Extensions()["operator"].(string); ok {
		n.operator = operator
	}
	if mapped, ok := cloudEventScanTypes[event.Type()]; ok {
		n.eventType, n.scan = mapped, true
		var data eventData
		if err := event.DataAs(&data); err != nil {
			return notice{}, fmt.Errorf("%w: decoding data of CloudEvent %s: %w", errMalformed,
				event.ID(), err)
		}
		n.data = &data
	}
	return n, nil
}

func isScanEventType(eventType string) bool {
	switch eventType {
	case EventScanningCompleted, EventScanningFailed, EventScanningStopped:
		return true
	}
	return false
}

// deliveries splits a scan event into one Delivery per resource. It rejects an event
// without resources and any resource whose digest is not a valid sha256 digest.
func (n notice) deliveries() ([]Delivery, error) {
	if n.data == nil || len(n.data.Resources) == 0 {
		return nil, fmt.Errorf("%w: %s event has no resources", errMalformed, n.eventType)
	}
	repository := ""
	if n.data.Repository != nil {
		repository = n.data.Repository.RepoFullName
	}
	out := make([]Delivery, 0, len(n.data.Resources))
	for _, r := range n.data.Resources {
		h, err := v1.NewHash(r.Digest)
		if err != nil {
			return nil, fmt.Errorf("%w: resource digest %q: %w", errMalformed, r.Digest, err)
		}
		// Harbor addresses every artifact by its sha256 manifest digest.
		if h.Algorithm != "sha256" {
			return nil, fmt.Errorf("%w: resource digest %q is not a sha256 digest",
				errMalformed, r.Digest)
		}
		out = append(out, Delivery{
			EventType:  n.eventType,
			Format:     n.format,
			EventID:    n.eventID,
			Repository: repository,
			Digest:     r.Digest,
			Tag:        r.Tag,
			ScanStatus: scanStatus(r.ScanOverview),
			Operator:   n.operator,
			OccurredAt: n.occurredAt,
		})
	}
	return out, nil
}

// scanStatus returns the scan status of the first known report type in the overview, or
// of the report type that sorts first when none is known.
func scanStatus(overview models.ScanOverview) string {
	for _, mime := range reportTypes {
		if summary, ok := overview[mime]; ok {
			return summary.ScanStatus
		}
	}
	for _, mime := range slices.Sorted(maps.Keys(overview)) {
		return overview[mime].ScanStatus
	}
	return ""
}

// isCloudEvent reports whether a request carries a CloudEvent: structured mode by its
// content type, binary mode by its ce-specversion header.
func isCloudEvent(mediaType string, header http.Header) bool {
	return mediaType == cloudevents.ApplicationCloudEventsJSON ||
		header.Get("Ce-Specversion") != ""
}
