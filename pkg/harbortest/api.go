package harbortest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// apiPrefix is the base path of Harbor's v2.0 REST API. The double serves nothing outside
// it, so a client that drops the prefix, as go-client does for a base URL ending in "/",
// gets 404.
const apiPrefix = "/api/v2.0"

// apiError is an error response in Harbor's format.
type apiError struct {
	status  int
	code    string
	message string
}

func newAPIError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// writeError writes {"errors":[{"code":...,"message":...}]} and a newline, as Harbor
// v2.13 src/lib/http/error.go does. Server errors hide their cause behind UNKNOWN and
// "internal server error".
func writeError(w http.ResponseWriter, e *apiError) {
	code, message := e.code, e.message
	if e.status >= http.StatusInternalServerError {
		code, message = "UNKNOWN", "internal server error"
	}
	body, _ := json.Marshal(models.Errors{Errors: []*models.Error{{Code: code, Message: message}}})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.status)
	_, _ = w.Write(append(body, '\n'))
}

// apiCall is one REST API request on its way through a handler. Handlers run with s.mu
// held.
type apiCall struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	caller principal
	params map[string]string
	now    time.Time
}

type apiRoute struct {
	method   string
	pattern  string // the swagger path, which is also the key in Stats.APIRequests
	segments []string
	handle   func(*apiCall) *apiError
}

func route(method, pattern string, handle func(*apiCall) *apiError) apiRoute {
	return apiRoute{
		method: method, pattern: pattern, handle: handle,
		segments: splitSegments(strings.TrimPrefix(pattern, "/")),
	}
}

func splitSegments(path string) []string {
	return strings.Split(strings.TrimSuffix(path, "/"), "/")
}

const artifactPath = "/projects/{project_name}/repositories/{repository_name}/artifacts"

var apiRoutes = []apiRoute{
	route(http.MethodGet, "/ping", (*apiCall).ping),
	route(http.MethodGet, "/systeminfo", (*apiCall).systemInfo),
	route(http.MethodGet, "/users/current/permissions", (*apiCall).currentPermissions),
	route(http.MethodGet, "/projects", (*apiCall).listProjects),
	route(http.MethodHead, "/projects", (*apiCall).headProject),
	route(http.MethodPost, "/projects", (*apiCall).createProject),
	route(http.MethodGet, "/projects/{project_name_or_id}", (*apiCall).getProject),
	route(http.MethodHead, "/projects/{project_name_or_id}", (*apiCall).getProject),
	route(http.MethodPut, "/projects/{project_name_or_id}", (*apiCall).updateProject),
	route(http.MethodGet, "/projects/{project_name_or_id}/metadatas/", (*apiCall).listMetadata),
	route(http.MethodPost, "/projects/{project_name_or_id}/metadatas/", (*apiCall).addMetadata),
	route(http.MethodGet, "/projects/{project_name_or_id}/metadatas/{meta_name}",
		(*apiCall).getMetadata),
	route(http.MethodPut, "/projects/{project_name_or_id}/metadatas/{meta_name}",
		(*apiCall).updateMetadata),
	route(http.MethodGet, artifactPath, (*apiCall).listArtifacts),
	route(http.MethodGet, artifactPath+"/{reference}", (*apiCall).getArtifact),
	route(http.MethodGet, artifactPath+"/{reference}/accessories", (*apiCall).listAccessories),
	route(http.MethodPost, artifactPath+"/{reference}/scan", (*apiCall).scanArtifact),
	route(http.MethodPost, artifactPath+"/{reference}/scan/stop", (*apiCall).stopScan),
	route(http.MethodGet, artifactPath+"/{reference}/additions/vulnerabilities",
		(*apiCall).vulnerabilitiesAddition),
	route(http.MethodGet, webhookPolicyPath, (*apiCall).listWebhookPolicies),
	route(http.MethodPost, webhookPolicyPath, (*apiCall).createWebhookPolicy),
	route(http.MethodGet, webhookPolicyPath+"/{webhook_policy_id}",
		(*apiCall).getWebhookPolicy),
	route(http.MethodPut, webhookPolicyPath+"/{webhook_policy_id}",
		(*apiCall).updateWebhookPolicy),
	route(http.MethodDelete, webhookPolicyPath+"/{webhook_policy_id}",
		(*apiCall).deleteWebhookPolicy),
	route(http.MethodGet, immutableRulePath, (*apiCall).listImmutableRules),
	route(http.MethodPost, immutableRulePath, (*apiCall).createImmutableRule),
	route(http.MethodPut, immutableRulePath+"/{immutable_rule_id}",
		(*apiCall).updateImmutableRule),
	route(http.MethodDelete, immutableRulePath+"/{immutable_rule_id}",
		(*apiCall).deleteImmutableRule),
	route(http.MethodGet, "/robots", (*apiCall).listRobots),
	route(http.MethodPost, "/robots", (*apiCall).createRobot),
	route(http.MethodGet, "/robots/{robot_id}", (*apiCall).getRobot),
	route(http.MethodPut, "/robots/{robot_id}", (*apiCall).updateRobot),
	route(http.MethodPatch, "/robots/{robot_id}", (*apiCall).refreshRobotSecret),
	route(http.MethodDelete, "/robots/{robot_id}", (*apiCall).deleteRobot),
	route(http.MethodGet, "/system/CVEAllowlist", (*apiCall).getSystemAllowlist),
	route(http.MethodPut, "/system/CVEAllowlist", (*apiCall).putSystemAllowlist),
	route(http.MethodGet, "/retentions/metadatas", (*apiCall).getRetentionMetadata),
	route(http.MethodPost, "/retentions", (*apiCall).createRetention),
	route(http.MethodGet, "/retentions/{id}", (*apiCall).getRetention),
	route(http.MethodPut, "/retentions/{id}", (*apiCall).updateRetention),
	route(http.MethodDelete, "/retentions/{id}", (*apiCall).deleteRetention),
	route(http.MethodPost, "/retentions/{id}/executions", (*apiCall).triggerRetention),
	route(http.MethodGet, "/retentions/{id}/executions", (*apiCall).listRetentionExecutions),
	route(http.MethodGet, "/retentions/{id}/executions/{eid}/tasks",
		(*apiCall).listRetentionTasks),
	route(http.MethodGet, "/configurations", (*apiCall).getConfigurations),
	route(http.MethodPut, "/configurations", (*apiCall).putConfigurations),
	route(http.MethodGet, "/registries", (*apiCall).listRegistries),
	route(http.MethodPost, "/registries", (*apiCall).createRegistry),
	route(http.MethodGet, "/registries/{id}", (*apiCall).getRegistry),
	route(http.MethodPut, "/registries/{id}", (*apiCall).updateRegistry),
	route(http.MethodDelete, "/registries/{id}", (*apiCall).deleteRegistry),
	route(http.MethodGet, "/replication/policies", (*apiCall).listReplicationPolicies),
	route(http.MethodPost, "/replication/policies", (*apiCall).createReplicationPolicy),
	route(http.MethodGet, "/replication/policies/{id}", (*apiCall).getReplicationPolicy),
	route(http.MethodPut, "/replication/policies/{id}", (*apiCall).updateReplicationPolicy),
	route(http.MethodDelete, "/replication/policies/{id}",
		(*apiCall).deleteReplicationPolicy),
}

// serveAPI routes a REST API request on its escaped path: every segment is unescaped once,
// so a repository name arrives as a%2Fb from the wire form a%252Fb and is unescaped again
// by the handler. A single-encoded a%2Fb unescapes to a segment with a "/", which matches
// no route, as in Harbor's router that works on the decoded path.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	requestID := r.Header.Get("X-Request-Id")
	if requestID == "" {
		requestID = newUUID()
	}
	w.Header().Set("X-Request-Id", requestID)
	segments, ok := apiSegments(r.URL.EscapedPath())
	if !ok {
		writeError(w, newAPIError(http.StatusNotFound, "NOT_FOUND", "resource not found"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	matched, params, methodAllowed := matchRoute(r.Method, segments)
	if matched == nil {
		if methodAllowed {
			writeError(w, newAPIError(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
				"method %s is not allowed on %s", r.Method, r.URL.Path))
			return
		}
		writeError(w, newAPIError(http.StatusNotFound, "NOT_FOUND", "resource not found"))
		return
	}
	s.stats.APIRequests[matched.method+" "+matched.pattern]++
	// Wrong credentials make the request anonymous instead of failing it, as in Harbor.
	caller, _ := s.authenticate(r)
	call := &apiCall{s: s, w: w, r: r, caller: caller, params: params, now: s.clock.Now()}
	if apiErr := matched.handle(call); apiErr != nil {
		writeError(w, apiErr)
	}
}

func apiSegments(escapedPath string) ([]string, bool) {
	rest := strings.TrimPrefix(escapedPath, apiPrefix+"/")
	raw := splitSegments(rest)
	segments := make([]string, len(raw))
	for i, segment := range raw {
		unescaped, err := url.PathUnescape(segment)
		if err != nil || strings.Contains(unescaped, "/") {
			return nil, false
		}
		segments[i] = unescaped
	}
	return segments, true
}

func matchRoute(method string, segments []string) (*apiRoute, map[string]string, bool) {
	pathMatched := false
	for i := range apiRoutes {
		candidate := &apiRoutes[i]
		params, ok := matchSegments(candidate.segments, segments)
		if !ok {
			continue
		}
		if candidate.method == method {
			return candidate, params, true
		}
		pathMatched = true
	}
	return nil, nil, pathMatched
}

func matchSegments(pattern, segments []string) (map[string]string, bool) {
	if len(pattern) != len(segments) {
		return nil, false
	}
	params := map[string]string{}
	for i, part := range pattern {
		if name, ok := strings.CutPrefix(part, "{"); ok {
			if segments[i] == "" {
				return nil, false
			}
			params[strings.TrimSuffix(name, "}")] = segments[i]
			continue
		}
		if part != segments[i] {
			return nil, false
		}
	}
	return params, true
}

// queryBool reads a boolean query parameter, returning fallback when it is absent.
func (c *apiCall) queryBool(name string, fallback bool) (bool, *apiError) {
	value := c.r.URL.Query().Get(name)
	if value == "" {
		return fallback, nil
	}
	parsed, err := strconv.ParseBool(value)
	if err != nil {
		return false, newAPIError(http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY",
			"%s in query must be of type boolean: %q", name, value)
	}
	return parsed, nil
}

// deny returns the error for a missing permission: 401 for anonymous callers, else 403.
func (c *apiCall) deny() *apiError {
	if c.caller.kind == anonymous {
		return newAPIError(http.StatusUnauthorized, "UNAUTHORIZED", "unauthorized")
	}
	return newAPIError(http.StatusForbidden, "FORBIDDEN", "forbidden")
}

// project finds the project of the request and checks a permission on it. Like Harbor, it
// rejects a missing project with 401 or 403 unless the caller is a system administrator,
// who gets 404.
func (c *apiCall) project(permission string) (*project, *apiError) {
	nameOrID, byName := c.params["project_name"], true
	if nameOrID == "" {
		nameOrID = c.params["project_name_or_id"]
		byName = strings.EqualFold(c.r.Header.Get("X-Is-Resource-Name"), "true")
	}
	p := c.s.store.projectByNameOrID(nameOrID, byName)
	if p == nil {
		if c.caller.kind == systemAdmin {
			return nil, newAPIError(http.StatusNotFound, "NOT_FOUND",
				"project %s not found", nameOrID)
		}
		return nil, c.deny()
	}
	if !c.caller.can(p, permission) {
		return nil, c.deny()
	}
	return p, nil
}

// decodeBody decodes a JSON request body; an empty body leaves target unchanged.
func (c *apiCall) decodeBody(target any) *apiError {
	decoder := json.NewDecoder(c.r.Body)
	if err := decoder.Decode(target); err != nil && !errors.Is(err, io.EOF) {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST", "invalid request body: %v",
			err)
	}
	return nil
}

// paginate applies page and page_size to a list of total items and sets X-Total-Count and
// Link as Harbor does: links are relative, carry page and page_size, keep the rest of the
// query unescaped, and are joined by " , ". It returns the slice bounds of the page.
func (c *apiCall) paginate(total int) (int, int, *apiError) {
	page, apiErr := c.queryInt("page", 1, 1, 0)
	if apiErr != nil {
		return 0, 0, apiErr
	}
	size, apiErr := c.queryInt("page_size", 10, 1, 100)
	if apiErr != nil {
		return 0, 0, apiErr
	}
	var links []string
	if page > 1 {
		links = append(links, c.pageLink(page-1, size, "prev"))
	}
	if page*size < total {
		links = append(links, c.pageLink(page+1, size, "next"))
	}
	c.w.Header().Set("X-Total-Count", strconv.Itoa(total))
	if len(links) > 0 {
		c.w.Header().Set("Link", strings.Join(links, " , "))
	}
	start := min((page-1)*size, total)
	return start, min(start+size, total), nil
}

func (c *apiCall) pageLink(page, size int, rel string) string {
	query := c.r.URL.Query()
	query.Set("page", strconv.Itoa(page))
	query.Set("page_size", strconv.Itoa(size))
	encoded := query.Encode()
	if unescaped, err := url.QueryUnescape(encoded); err == nil {
		encoded = unescaped
	}
	return fmt.Sprintf(`<%s?%s>; rel="%s"`, c.r.URL.EscapedPath(), encoded, rel)
}

// queryInt reads an integer query parameter within [minimum, maximum]; a maximum of 0 means
// no upper bound. Out-of-range values fail swagger validation with 422 in Harbor.
func (c *apiCall) queryInt(name string, fallback, minimum, maximum int) (int, *apiError) {
	value := c.r.URL.Query().Get(name)
	if value == "" {
		return fallback, nil
	}
	parsed, err := strconv.Atoi(value)
	if err != nil || parsed < minimum || (maximum > 0 && parsed > maximum) {
		bound := ""
		if maximum > 0 {
			bound = fmt.Sprintf(" and at most %d", maximum)
		}
		return 0, newAPIError(http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY",
			"%s in query must be an integer of at least %d%s: %q", name, minimum, bound, value)
	}
	return parsed, nil
}

// wrapInvalid turns an API error into an error of the Server's Go methods that wraps
// ErrInvalid.
func wrapInvalid(action string, e *apiError) error {
	return fmt.Errorf("%s: %w: %s", action, ErrInvalid, e.message)
}
