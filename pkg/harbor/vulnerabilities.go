package harbor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/strfmt"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
)

// ErrNoVulnerabilityReport is returned by Vulnerabilities when Harbor has no finished report
// of a type this client accepts, for example because the artifact is being scanned again.
var ErrNoVulnerabilityReport = errors.New("no vulnerability report")

// Vulnerability is one finding of an artifact's vulnerability report.
type Vulnerability struct {
	// ID is the vulnerability id, such as "CVE-2024-3094".
	ID string `json:"id"`
	// Package and Version name the affected package.
	Package string `json:"package"`
	Version string `json:"version"`
	// FixVersion is the first version without the vulnerability, or "" when none is known.
	FixVersion string `json:"fix_version"`
	// Severity is the scanner's severity, such as "Critical".
	Severity string `json:"severity"`
}

// vulnerabilityReport is the part of a report in the vulnerabilities addition that this
// client reads. Harbor v2.13 writes the whole report of src/pkg/scan/vuln/report.go, with
// generated_at, scanner, severity and per-finding descriptions and links besides.
type vulnerabilityReport struct {
	Vulnerabilities []Vulnerability `json:"vulnerabilities"`
}

// maxReportBody bounds the vulnerabilities addition that is decoded, as a guard against a
// response that never ends. A Trivy report of a large image is some megabytes.
const maxReportBody = 256 << 20

// getVulnerabilitiesAdditionID is the operation ID that go-client's generated
// GetVulnerabilitiesAddition submits.
const getVulnerabilitiesAdditionID = "getVulnerabilitiesAddition"

// Vulnerabilities returns the findings of the artifact's vulnerability report, as Harbor lists
// them: a package found in several files may appear more than once. The result is empty, not
// nil, for a clean image. The call needs the permission artifact-addition:read.
//
// go-client v0.213.1 declares the addition's payload a string, so its generated reader fails
// on the JSON object Harbor sends. The generated operation is called with a reader that
// decodes the object instead. Error statuses still go through the generated reader.
//
// NOTE: for an image index, whether Harbor v2.13 merges the platform images' lists in this
// addition, as it merges their summaries, was not checked against a real Harbor. The Harbor
// double merges them.
func (c *Client) Vulnerabilities(ctx context.Context, ref ArtifactRef) ([]Vulnerability, error) {
	if err := ref.Validate(); err != nil {
		return nil, fmt.Errorf("getting vulnerabilities: %w", err)
	}
	cl := c.newCall(ref.Project, "getting the vulnerabilities of %s", ref)

	accept := acceptVulnerabilities
	params := artifact.NewGetVulnerabilitiesAdditionParamsWithTimeout(c.timeout).
		WithProjectName(ref.Project).
		WithRepositoryName(ref.repositoryParam()).
		WithReference(ref.Digest).
		WithXAcceptVulnerabilities(&accept).
		WithXRequestID(&cl.requestID)
	var reports map[string]*vulnerabilityReport
	api := artifact.New(additionTransport{next: c.api.Transport, reports: &reports},
		strfmt.Default, c.auth)
	if _, err := api.GetVulnerabilitiesAddition(ctx, params); err != nil {
		return nil, cl.wrap(err)
	}
	// Harbor returns the report of the first type in X-Accept-Vulnerabilities that has one.
	for _, mime := range []string{MIMETypeGenericReport, MIMETypeNativeReport} {
		if report := reports[mime]; report != nil {
			if report.Vulnerabilities == nil {
				return []Vulnerability{}, nil
			}
			return report.Vulnerabilities, nil
		}
	}
	return nil, fmt.Errorf("%s: %w of type %s or %s; wait until the scan is final",
		cl.op, ErrNoVulnerabilityReport, MIMETypeGenericReport, MIMETypeNativeReport)
}

// additionTransport submits the getVulnerabilitiesAddition operation with additionReader in
// place of the generated reader.
type additionTransport struct {
	next    runtime.ClientTransport
	reports *map[string]*vulnerabilityReport
}

// Submit implements runtime.ClientTransport.
func (t additionTransport) Submit(op *runtime.ClientOperation) (any, error) {
	if op.ID != getVulnerabilitiesAdditionID {
		return nil, fmt.Errorf("submitting %s: this transport only reads the "+
			"vulnerabilities addition", op.ID)
	}
	op.Reader = additionReader{generated: op.Reader, reports: t.reports}
	return t.next.Submit(op)
}

// additionReader decodes a 200 response of the vulnerabilities addition into reports and
// passes every other status to the generated reader, which turns it into a typed error.
type additionReader struct {
	generated runtime.ClientResponseReader
	reports   *map[string]*vulnerabilityReport
}

// ReadResponse implements runtime.ClientResponseReader.
func (r additionReader) ReadResponse(resp runtime.ClientResponse,
	consumer runtime.Consumer) (any, error) {
	if resp.Code() != http.StatusOK {
		return r.generated.ReadResponse(resp, consumer)
	}
	body := &cappedReader{r: resp.Body(), remaining: maxReportBody}
	err := json.NewDecoder(body).Decode(r.reports)
	if body.readErr != nil {
		// A broken connection is not a malformed report, so the request may be repeated.
		return nil, fmt.Errorf("reading the vulnerabilities addition: %w", body.readErr)
	}
	if errors.Is(err, errBodyTooLarge) {
		return nil, fmt.Errorf("%w: the vulnerabilities addition is longer than the limit "+
			"of %d bytes", ErrUnexpectedResponse, maxReportBody)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: decoding the vulnerabilities addition: %w",
			ErrUnexpectedResponse, err)
	}
	return &artifact.GetVulnerabilitiesAdditionOK{ContentType: resp.GetHeader("Content-Type")},
		nil
}
