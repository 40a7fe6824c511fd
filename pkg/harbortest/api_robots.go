package harbortest

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-openapi/strfmt"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

const robotLevelProject = "project"

// robotModel returns the robot as GET /robots shows it, without its secret.
func robotModel(rb *robot) *models.Robot {
	access := make([]*models.Access, 0, len(rb.permissions))
	for _, permission := range rb.permissions {
		resource, action, _ := strings.Cut(permission, ":")
		access = append(access, &models.Access{Resource: resource, Action: action})
	}
	duration := rb.duration
	return &models.Robot{
		ID: rb.id, Name: rb.fullName(), Description: rb.description,
		Level: robotLevelProject, Duration: &duration, ExpiresAt: rb.expiresAt,
		Disable: rb.disabled, Editable: true,
		CreationTime: strfmt.DateTime(rb.created.UTC()),
		UpdateTime:   strfmt.DateTime(rb.updated.UTC()),
		Permissions: []*models.RobotPermission{{
			Kind: robotLevelProject, Namespace: rb.project, Access: access,
		}},
	}
}

// validateRobot applies the checks of Harbor v2.13 src/server/v2.0/handler/robot.go in
// its order, and returns the permissions as "<resource>:<action>".
//
// NOTE: the double models project robots only, so it rejects a system robot with 400.
func validateRobot(duration int64, level string,
	permissions []*models.RobotPermission) ([]string, *apiError) {
	badRequest := func(format string, args ...any) ([]string, *apiError) {
		return nil, newAPIError(http.StatusBadRequest, "BAD_REQUEST", format, args...)
	}
	if duration == 0 || duration < -1 || duration >= math.MaxInt32 {
		return badRequest("bad request error duration input: %d: use -1 for never "+
			"expiring or a number of days", duration)
	}
	if level != robotLevelProject {
		return badRequest("bad request error level input: %s: the double supports only "+
			"level %q", level, robotLevelProject)
	}
	if len(permissions) != 1 || permissions[0] == nil {
		return badRequest("bad request permission: a project robot needs exactly one "+
			"permission entry, got %d", len(permissions))
	}
	entry := permissions[0]
	if entry.Kind != robotLevelProject {
		return badRequest("bad request permission level: %s", entry.Kind)
	}
	if len(entry.Access) == 0 {
		return badRequest("bad request empty access")
	}
	var granted []string
	for _, access := range entry.Access {
		if access == nil {
			return badRequest("bad request empty access")
		}
		permission := access.Resource + ":" + access.Action
		if !projectRobotPolicies[permission] {
			return badRequest("bad request permission: %s", permission)
		}
		granted = append(granted, permission)
	}
	slices.Sort(granted)
	return slices.Compact(granted), nil
}

// robotProject finds the project named by a robot permission's namespace and checks the
// caller's robot permission there, with the same 401, 403 and 404 rules as other project
// resources.
func (c *apiCall) robotProject(namespace, permission string) (*project, *apiError) {
	c.params["project_name_or_id"] = namespace
	return c.project(permission)
}

func (c *apiCall) createRobot() *apiError {
	var req models.RobotCreate
	if apiErr := c.decodeBody(&req); apiErr != nil {
		return apiErr
	}
	if !robotNamePattern.MatchString(req.Name) {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"invalid robot name %q: use lower-case letters and digits joined by ., _ or -",
			req.Name)
	}
	granted, apiErr := validateRobot(req.Duration, req.Level, req.Permissions)
	if apiErr != nil {
		return apiErr
	}
	p, apiErr := c.robotProject(req.Permissions[0].Namespace, permRobotCreate)
	if apiErr != nil {
		return apiErr
	}
	secret, apiErr := chooseRobotSecret(req.Secret)
	if apiErr != nil {
		return apiErr
	}
	name := RobotName(p.name, req.Name)
	if c.s.robots[name] != nil {
		return newAPIError(http.StatusConflict, "CONFLICT",
			"robot account %s already exists", name)
	}

	rb := &robot{
		id: c.s.store.newID(), name: req.Name, project: p.name, secret: secret,
		description: req.Description, duration: req.Duration,
		expiresAt: robotExpiry(c.now, req.Duration), disabled: req.Disable,
		permissions: granted, created: c.now, updated: c.now,
	}
	c.s.robots[name] = rb
	c.w.Header().Set("Location", fmt.Sprintf("%s/%d",
		strings.TrimSuffix(c.r.URL.Path, "/"), rb.id))
	writeJSON(c.w, http.StatusCreated, &models.RobotCreated{
		ID: rb.id, Name: name, Secret: secret, ExpiresAt: rb.expiresAt,
		CreationTime: strfmt.DateTime(c.now.UTC()),
	})
	return nil
}

// listRobots serves GET /robots. Like Harbor, q=Level=project,ProjectID=<id> lists the
// robots of a project, which needs robot:list there. Without Level it lists system
// robots, which only the system administrator may, and the double has none.
func (c *apiCall) listRobots() *apiError {
	if c.caller.kind == anonymous {
		return c.deny()
	}
	keywords := parseQuery(c.r.URL.Query().Get("q"))
	var list []*models.Robot
	switch level := keywords["Level"]; level {
	case "", "system":
		if c.caller.kind != systemAdmin {
			return c.deny()
		}
	case robotLevelProject:
		projectID, ok := keywords["ProjectID"]
		if !ok {
			return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
				"must with project ID when to query project robots")
		}
		if _, err := strconv.ParseInt(projectID, 10, 64); err != nil {
			return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
				"Project ID must be int type: %q", projectID)
		}
		p, apiErr := c.robotProject(projectID, permRobotList)
		if apiErr != nil {
			return apiErr
		}
		list = c.projectRobots(p, keywords["name"])
	default:
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"bad request error level input: %s", level)
	}
	start, end, apiErr := c.paginate(len(list))
	if apiErr != nil {
		return apiErr
	}
	writeJSON(c.w, http.StatusOK, append([]*models.Robot{}, list[start:end]...))
	return nil
}

// chooseRobotSecret returns the secret a client chose, if it passes Harbor's rule, or a
// random one when the client chose none.
func chooseRobotSecret(requested string) (string, *apiError) {
	if requested == "" {
		secret, err := newRobotSecret()
		if err != nil {
			return "", newAPIError(http.StatusInternalServerError, "UNKNOWN", "%v", err)
		}
		return secret, nil
	}
	if !robotSecretValid(requested) {
		return "", newAPIError(http.StatusBadRequest, "BAD_REQUEST", "invalid robot secret: "+
			"use at least 8 characters with an upper-case letter, a lower-case letter and "+
			"a digit")
	}
	return requested, nil
}

// projectRobots returns the project's robots ordered by id, filtered by a name keyword:
// "ci" matches the name exactly and "~ci" is a substring match.
func (c *apiCall) projectRobots(p *project, nameFilter string) []*models.Robot {
	list := []*models.Robot{}
	for _, rb := range c.s.sortedRobots() {
		if rb.project != p.name {
			continue
		}
		if fuzzy, ok := strings.CutPrefix(nameFilter, "~"); ok {
			if !strings.Contains(rb.fullName(), fuzzy) {
				continue
			}
		} else if nameFilter != "" && nameFilter != rb.name && nameFilter != rb.fullName() {
			continue
		}
		list = append(list, robotModel(rb))
	}
	return list
}

// parseQuery splits Harbor's q parameter, "k1=v1,k2=~v2", into keywords. Values keep a
// leading "~" for fuzzy matches.
func parseQuery(q string) map[string]string {
	keywords := map[string]string{}
	for _, part := range strings.Split(q, ",") {
		if key, value, ok := strings.Cut(part, "="); ok && key != "" {
			keywords[strings.TrimSpace(key)] = strings.TrimSpace(value)
		}
	}
	return keywords
}

// robotFromPath finds the robot named by {robot_id} and checks a robot permission in its
// project. Like Harbor, a missing robot gives 404 to every authenticated caller.
func (c *apiCall) robotFromPath(permission string) (*robot, *apiError) {
	if c.caller.kind == anonymous {
		return nil, c.deny()
	}
	id, err := strconv.ParseInt(c.params["robot_id"], 10, 64)
	if err != nil {
		return nil, newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"invalid robot id %q: use an integer", c.params["robot_id"])
	}
	rb := c.s.robotByID(id)
	if rb == nil {
		return nil, newAPIError(http.StatusNotFound, "NOT_FOUND", "robot %d not found", id)
	}
	if _, apiErr := c.robotProject(rb.project, permission); apiErr != nil {
		return nil, apiErr
	}
	return rb, nil
}

func (c *apiCall) getRobot() *apiError {
	rb, apiErr := c.robotFromPath(permRobotRead)
	if apiErr != nil {
		return apiErr
	}
	writeJSON(c.w, http.StatusOK, robotModel(rb))
	return nil
}

func (c *apiCall) deleteRobot() *apiError {
	rb, apiErr := c.robotFromPath(permRobotDelete)
	if apiErr != nil {
		return apiErr
	}
	delete(c.s.robots, rb.fullName())
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// updateRobot serves PUT /robots/{robot_id} as Harbor's updateV2Robot does: the body must
// keep the level and the full name, and replaces description, disable, duration and
// permissions. A changed duration counts from the creation time.
func (c *apiCall) updateRobot() *apiError {
	rb, apiErr := c.robotFromPath(permRobotUpdate)
	if apiErr != nil {
		return apiErr
	}
	var req models.Robot
	if apiErr := c.decodeBody(&req); apiErr != nil {
		return apiErr
	}
	var duration int64
	if req.Duration != nil {
		duration = *req.Duration
	}
	granted, apiErr := validateRobot(duration, req.Level, req.Permissions)
	if apiErr != nil {
		return apiErr
	}
	if req.Permissions[0].Namespace != rb.project {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"invalid permission namespace %q: robot %s belongs to project %s",
			req.Permissions[0].Namespace, rb.fullName(), rb.project)
	}
	if req.Name != rb.fullName() {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"cannot update the level or name of robot: name %q, want %q", req.Name,
			rb.fullName())
	}
	rb.duration = duration
	rb.expiresAt = robotExpiry(rb.created, duration)
	rb.description, rb.disabled, rb.permissions = req.Description, req.Disable, granted
	rb.updated = c.now
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// refreshRobotSecret serves PATCH /robots/{robot_id}. An empty secret in the body makes
// the double generate one and return it. A chosen secret must pass Harbor's rule, and the
// response leaves it out.
func (c *apiCall) refreshRobotSecret() *apiError {
	rb, apiErr := c.robotFromPath(permRobotUpdate)
	if apiErr != nil {
		return apiErr
	}
	var req models.RobotSec
	if apiErr := c.decodeBody(&req); apiErr != nil {
		return apiErr
	}
	response := &models.RobotSec{}
	if req.Secret != "" {
		if !robotSecretValid(req.Secret) {
			return newAPIError(http.StatusBadRequest, "BAD_REQUEST", "the secret must "+
				"longer than 8 chars with at least 1 uppercase letter, 1 lowercase letter "+
				"and 1 number")
		}
		rb.secret = req.Secret
	} else {
		secret, err := newRobotSecret()
		if err != nil {
			return newAPIError(http.StatusInternalServerError, "UNKNOWN", "%v", err)
		}
		rb.secret, response.Secret = secret, secret
	}
	rb.updated = c.now
	writeJSON(c.w, http.StatusOK, response)
	return nil
}
