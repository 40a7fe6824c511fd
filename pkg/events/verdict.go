package events

import (
	"fmt"
	"net/url"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
)

// EventTypeScanCompleted is the CloudEvents type of a verdict that the relay sends.
const EventTypeScanCompleted = "dev.druppie.harbor.scan.completed"

// SourceCLI is the CloudEvents source of verdicts from the harbor-gate command line.
const SourceCLI = "harbor-gate/cli"

// Verdicts of a gate, as the data's verdict field carries them.
const (
	VerdictPass = "PASS"
	VerdictFail = "FAIL"
)

// CustomRunSource returns the CloudEvents source of a verdict that the controller reached
// for a CustomRun: the API path of that CustomRun,
// "/apis/tekton.dev/v1beta1/namespaces/<namespace>/customruns/<name>".
func CustomRunSource(namespace, name string) string {
	return "/apis/tekton.dev/v1beta1/namespaces/" + url.PathEscape(namespace) +
		"/customruns/" + url.PathEscape(name)
}

// VerdictData is the JSON data of a verdict event.
type VerdictData struct {
	// Image is the repository of the gated image without tag or digest, for example
	// "registry.druppie.local/team/app".
	Image string `json:"image"`
	// Digest is the gated manifest digest, "sha256:...".
	Digest string `json:"digest"`
	// Verdict is VerdictPass or VerdictFail.
	Verdict string `json:"verdict"`
	// Reason explains the verdict in one sentence.
	Reason string `json:"reason"`
	// Counts holds the number of vulnerabilities by severity, such as "Critical" and
	// "High", as Harbor's scan summary counts them.
	Counts map[string]int64 `json:"counts"`
	// PipelineRun is the name of the PipelineRun that ran the gate, if any.
	PipelineRun string `json:"pipelineRun,omitempty"`
	// Namespace is the namespace of the run, if any.
	Namespace string `json:"namespace,omitempty"`
	// ArtifactURL links to the artifact in Harbor's web interface.
	ArtifactURL string `json:"artifactURL,omitempty"`
}

// Event is one verdict for the relay.
type Event struct {
	// ID is the CloudEvents id, which receivers use to drop duplicates. The default, for
	// an empty ID, is a random UUID. A stable ID, such as the CustomRun's UID, lets the
	// core service recognise a verdict that was sent twice.
	ID string
	// Source is the CloudEvents source and is required: CustomRunSource or SourceCLI.
	Source string
	// Time is when the verdict was reached. The default, for the zero time, is the time
	// of Send or SendNow.
	Time time.Time
	// Data is the verdict.
	Data VerdictData
}

// cloudEvent builds and validates the CloudEvent of a verdict. Its subject is the image
// reference by digest.
func (e Event) cloudEvent(now time.Time) (cloudevents.Event, error) {
	ce := cloudevents.NewEvent()
	id := e.ID
	if id == "" {
		id = uuid.NewString()
	}
	if e.Source == "" {
		return ce, fmt.Errorf("%w: event %s has no source: set Source to CustomRunSource "+
			"or SourceCLI", ErrInvalidEvent, id)
	}
	ce.SetID(id)
	ce.SetSource(e.Source)
	ce.SetType(EventTypeScanCompleted)
	ce.SetTime(now)
	if !e.Time.IsZero() {
		ce.SetTime(e.Time)
	}
	if e.Data.Image != "" && e.Data.Digest != "" {
		ce.SetSubject(e.Data.Image + "@" + e.Data.Digest)
	}
	if err := ce.SetData(cloudevents.ApplicationJSON, e.Data); err != nil {
		return ce, fmt.Errorf("%w: encoding data of event %s: %w", ErrInvalidEvent, id, err)
	}
	if err := ce.Validate(); err != nil {
		return ce, fmt.Errorf("%w: event %s: %w", ErrInvalidEvent, id, err)
	}
	return ce, nil
}
