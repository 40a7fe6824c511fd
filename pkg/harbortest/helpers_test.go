package harbortest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-openapi/loads"
	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/spec"
	"github.com/go-openapi/strfmt"
	"github.com/go-openapi/validate"
	v2client "github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	artifactapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	robotSecret = "robot-secret"
	userSecret  = "user-password"
)

// fakeClock is a Clock that moves only when a test advances it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// startServer starts a double with project "demo", its robot "ci", the user "dev" in demo,
// and the given options, and closes it when the test ends.
func startServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	base := []Option{
		WithProject(Project{Name: "demo"}),
		WithRobot("demo", "ci", robotSecret),
		WithUser("dev", userSecret, "demo"),
	}
	srv, err := New(append(base, opts...)...)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close() error = %v", err)
		}
	})
	return srv
}

var robotLogin = RobotName("demo", "ci")

// apiClient returns a go-client for the double whose every response is checked against
// the swagger of go-client.
func apiClient(t *testing.T, srv *Server, username, password string) *v2client.HarborAPI {
	t.Helper()
	base, err := url.Parse(srv.URL() + apiPrefix)
	if err != nil {
		t.Fatal(err)
	}
	cfg := v2client.Config{
		URL:       base,
		Transport: &validatingTransport{t: t, base: srv.Client().Transport},
	}
	if username != "" {
		cfg.AuthInfo = httptransport.BasicAuth(username, password)
	}
	return v2client.New(cfg)
}

// pushImage pushes a random image with ggcr and returns it.
func pushImage(t *testing.T, srv *Server, ref string, auth authn.Authenticator) v1.Image {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(parseRef(t, srv, ref), img, remoteOptions(srv, auth)...); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	return img
}

func parseRef(t *testing.T, srv *Server, ref string) name.Reference {
	t.Helper()
	parsed, err := name.ParseReference(srv.Host()+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return parsed
}

func remoteOptions(srv *Server, auth authn.Authenticator) []remote.Option {
	return []remote.Option{
		remote.WithAuth(auth),
		remote.WithTransport(srv.Client().Transport),
	}
}

func robotAuth() authn.Authenticator {
	return &authn.Basic{Username: robotLogin, Password: robotSecret}
}

func adminAuth() authn.Authenticator {
	return &authn.Basic{Username: DefaultAdminUser, Password: DefaultAdminPassword}
}

func digestOf(t *testing.T, img interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return digest.String()
}

// getArtifact reads an artifact with its scan overview, tags and accessories.
func getArtifact(t *testing.T, client *v2client.HarborAPI, repo, reference string,
	accept *string) *models.Artifact {
	t.Helper()
	yes := true
	params := artifactapi.NewGetArtifactParams().WithProjectName("demo").
		WithRepositoryName(url.PathEscape(repo)).WithReference(reference).
		WithWithScanOverview(&yes).WithWithAccessory(&yes).WithXAcceptVulnerabilities(accept)
	got, err := client.Artifact.GetArtifact(context.Background(), params)
	if err != nil {
		t.Fatalf("GetArtifact(%s, %s) error = %v", repo, reference, err)
	}
	return got.Payload
}

// rawGet sends a GET with optional Basic credentials and returns status, headers and body.
func rawGet(t *testing.T, srv *Server, path string, username, password string,
	header http.Header) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for key, values := range header {
		req.Header[key] = values
	}
	if username != "" {
		req.SetBasicAuth(username, password)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// apiStatus returns the HTTP status of a go-client error, typed or not.
func apiStatus(err error) int {
	var coded interface{ IsCode(int) bool }
	var apiErr *runtime.APIError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &apiErr):
		return apiErr.Code
	case errors.As(err, &coded):
		for status := 400; status < 600; status++ {
			if coded.IsCode(status) {
				return status
			}
		}
	}
	return 0
}

// swaggerSpec is go-client's swagger.yaml with all references expanded, loaded once from
// the module cache because the repository keeps no copy.
var swaggerSpec = sync.OnceValues(func() (*spec.Swagger, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}",
		"github.com/goharbor/go-client").Output()
	if err != nil {
		return nil, err
	}
	doc, err := loads.Spec(strings.TrimSpace(string(out)) + "/api/v2.0/swagger.yaml")
	if err != nil {
		return nil, err
	}
	expanded, err := doc.Expanded()
	if err != nil {
		return nil, err
	}
	return expanded.Spec(), nil
})

// knownDeviations are operations whose real Harbor response differs from the swagger. The
// vulnerabilities addition is declared a string, but Harbor sends a JSON object keyed by
// report MIME type, which the double reproduces.
var knownDeviations = map[string]bool{
	"GET " + artifactPath + "/{reference}/additions/vulnerabilities": true,
}

// validatingTransport checks every JSON response of the REST API against the response
// schema that go-client's swagger declares for the operation and status.
type validatingTransport struct {
	t    *testing.T
	base http.RoundTripper
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := v.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := validateResponse(req, resp, body); err != nil {
		v.t.Errorf("%s %s: response %d does not match swagger: %v\nbody: %s",
			req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	return resp, nil
}

// validateResponse validates a JSON body against the swagger. Bodies of other types and
// empty bodies are not checked.
func validateResponse(req *http.Request, resp *http.Response, body []byte) error {
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var data any
	if err := json.Unmarshal(body, &data); err != nil {
		return err
	}
	segments, ok := apiSegments(req.URL.EscapedPath())
	route, _, _ := matchRoute(req.Method, segments)
	if !ok || route == nil {
		// Unrouted requests get Harbor's error body.
		return validateAgainst(errorsSchema(), data)
	}
	key := route.method + " " + route.pattern
	if knownDeviations[key] && resp.StatusCode == http.StatusOK {
		if _, isObject := data.(map[string]any); !isObject {
			return &deviationError{key}
		}
		return nil
	}
	schema, err := responseSchema(route, resp.StatusCode)
	if err != nil {
		return err
	}
	switch key {
	case "GET /retentions/{id}":
		dropNested(data, "rules", "params")
	case "GET /replication/policies/{id}":
		dropNested(data, "filters", "value")
	case "GET /replication/policies":
		for _, policy := range asList(data) {
			dropNested(policy, "filters", "value")
		}
	}
	return validateAgainst(schema, data)
}

// dropNested removes member from every element of the list object[list] before
// validation, for values that the swagger declares objects but Harbor sends as scalars:
// retention rule params such as {"latestPushedK": 10}, and replication filter values such
// as "library/**". The double reproduces Harbor.
func dropNested(object any, list, member string) {
	fields, _ := object.(map[string]any)
	for _, element := range asList(fields[list]) {
		if inner, ok := element.(map[string]any); ok {
			delete(inner, member)
		}
	}
}

func asList(data any) []any {
	list, _ := data.([]any)
	return list
}

type deviationError struct{ key string }

func (e *deviationError) Error() string { return e.key + ": body is not a JSON object" }

func responseSchema(route *apiRoute, status int) (*spec.Schema, error) {
	doc, err := swaggerSpec()
	if err != nil {
		return nil, err
	}
	item, ok := doc.Paths.Paths[route.pattern]
	if !ok {
		return nil, &missingError{"path " + route.pattern}
	}
	var op *spec.Operation
	switch route.method {
	case http.MethodGet:
		op = item.Get
	case http.MethodPost:
		op = item.Post
	case http.MethodPut:
		op = item.Put
	case http.MethodHead:
		op = item.Head
	case http.MethodDelete:
		op = item.Delete
	case http.MethodPatch:
		op = item.Patch
	}
	if op == nil {
		return nil, &missingError{route.method + " " + route.pattern}
	}
	if resp, ok := op.Responses.StatusCodeResponses[status]; ok {
		if resp.Schema == nil && status >= 400 {
			// Some error responses declare no schema, but Harbor always sends its body.
			return errorsSchema(), nil
		}
		if resp.Schema == nil {
			return nil, &missingError{"schema for a body"}
		}
		return resp.Schema, nil
	}
	if status >= 400 {
		// Statuses the swagger does not list, such as 409 and 412 on scan, still carry
		// Harbor's error body.
		return errorsSchema(), nil
	}
	return nil, &missingError{"response for status"}
}

func errorsSchema() *spec.Schema {
	doc, err := swaggerSpec()
	if err != nil {
		return nil
	}
	schema := doc.Definitions["Errors"]
	return &schema
}

type missingError struct{ what string }

func (e *missingError) Error() string { return "swagger has no " + e.what }

func validateAgainst(schema *spec.Schema, data any) error {
	if schema == nil {
		return &missingError{"schema"}
	}
	return validate.AgainstSchema(schema, dropNulls(data), strfmt.Default)
}

// dropNulls removes object members whose value is null, because Harbor's server writes
// null for absent lists such as tags and labels, which the swagger does not declare
// nullable. A required member that is null still fails as missing.
func dropNulls(data any) any {
	switch value := data.(type) {
	case map[string]any:
		for key, member := range value {
			if member == nil {
				delete(value, key)
				continue
			}
			value[key] = dropNulls(member)
		}
	case []any:
		for i, item := range value {
			value[i] = dropNulls(item)
		}
	}
	return data
}

func pushImageValue(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func sorted(values []string) []string {
	out := append([]string(nil), values...)
	slices.Sort(out)
	return out
}

func basicAuth(username, password string) authn.Authenticator {
	return &authn.Basic{Username: username, Password: password}
}

// rawPost sends a POST without a body and returns status, headers and body.
func rawPost(t *testing.T, srv *Server, path, username, password string) (int, http.Header,
	[]byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(username, password)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

func getArtifactIn(t *testing.T, client *v2client.HarborAPI, project, repo,
	reference string) *models.Artifact {
	t.Helper()
	yes := true
	params := artifactapi.NewGetArtifactParams().WithProjectName(project).
		WithRepositoryName(url.PathEscape(repo)).WithReference(reference).
		WithWithScanOverview(&yes)
	got, err := client.Artifact.GetArtifact(context.Background(), params)
	if err != nil {
		t.Fatalf("GetArtifact(%s/%s:%s) error = %v", project, repo, reference, err)
	}
	return got.Payload
}

// pushCosignSignature pushes a manifest in cosign's legacy tag scheme, with one
// simple-signing layer, and returns its tag.
func pushCosignSignature(t *testing.T, srv *Server, repo, subject string) string {
	t.Helper()
	payload := []byte(`{"critical":{"image":{"docker-manifest-digest":"` + subject + `"}}}`)
	layer := static.NewLayer(payload, types.MediaType(mediaTypeCosignSimpleSigning))
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1),
		layer)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	tag := strings.Replace(subject, ":", "-", 1) + ".sig"
	if err := remote.Write(parseRef(t, srv, repo+":"+tag), img,
		remoteOptions(srv, robotAuth())...); err != nil {
		t.Fatalf("pushing signature: %v", err)
	}
	return tag
}
