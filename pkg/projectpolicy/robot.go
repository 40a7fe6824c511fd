package projectpolicy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/robot"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

const robotLevelProject = "project"

// GatePermissions are the project permissions of the harbor-gate robot, as
// "<resource>:<action>". They push and pull an image and its cosign signature, read the
// artifact with its scan overview, list artifacts, and start, read and stop a scan. They
// also list accessories and tags and read the vulnerability report. The gate does not
// read project metadata, so the robot gets no metadata permission.
var GatePermissions = []string{
	"repository:push", "repository:pull",
	"artifact:read", "artifact:list",
	"scan:create", "scan:read", "scan:stop",
	"accessory:list", "artifact-addition:read", "tag:list",
}

func (r *Robot) duration() int64 {
	if r.DurationDays == 0 {
		return -1
	}
	return r.DurationDays
}

func robotPermissions(project string) []*models.RobotPermission {
	access := make([]*models.Access, 0, len(GatePermissions))
	for _, p := range GatePermissions {
		resource, action, _ := strings.Cut(p, ":")
		access = append(access, &models.Access{Resource: resource, Action: action})
	}
	return []*models.RobotPermission{{Kind: robotLevelProject, Namespace: project,
		Access: access}}
}

// permissionList returns a robot's permissions in the project as sorted
// "<resource>:<action>" strings.
func permissionList(rb *models.Robot, project string) []string {
	var list []string
	for _, p := range rb.Permissions {
		if p == nil || p.Namespace != project {
			continue
		}
		for _, a := range p.Access {
			if a != nil {
				list = append(list, a.Resource+":"+a.Action)
			}
		}
	}
	slices.Sort(list)
	return list
}

// planRobot creates the robot, or updates its description, lifetime, permissions and
// disabled flag. Harbor never returns a robot's secret, so the secret is compared never;
// WithRotateRobotSecret refreshes it. Robots with other names are left alone.
func planRobot(ctx context.Context, api *client.HarborAPI, plan *Plan, p *Project,
	id int64) error {
	want := p.Spec.Robot
	if want == nil {
		return nil
	}
	current, err := findRobot(ctx, api, p.Metadata.Name, want.Name, id)
	if err != nil {
		return err
	}
	name := p.Metadata.Name
	if current == nil {
		plan.add(ActionCreate, "robot", "%s permissions=%s duration=%d", want.Name,
			strings.Join(GatePermissions, ","), want.duration())
		plan.steps = append(plan.steps, createRobotStep(name, want))
		return nil
	}
	if diffs := robotDiffs(name, want, current); len(diffs) > 0 {
		plan.add(ActionUpdate, "robot", "%s %s", want.Name, strings.Join(diffs, ", "))
		plan.steps = append(plan.steps, updateRobotStep(name, want, current))
	}
	if plan.cfg.rotateSecret {
		plan.add(ActionUpdate, "robot", "%s secret: refreshed", want.Name)
		plan.steps = append(plan.steps, refreshRobotStep(current))
	}
	return nil
}

func robotDiffs(project string, want *Robot, current *models.Robot) []string {
	var diffs []string
	if current.Description != want.Description {
		diffs = append(diffs, fmt.Sprintf("description: %q -> %q", current.Description,
			want.Description))
	}
	if current.Duration == nil || *current.Duration != want.duration() {
		have := "unset"
		if current.Duration != nil {
			have = fmt.Sprint(*current.Duration)
		}
		diffs = append(diffs, fmt.Sprintf("duration: %s -> %d", have, want.duration()))
	}
	if current.Disable {
		diffs = append(diffs, "disabled: true -> false")
	}
	have := permissionList(current, project)
	wantPerms := slices.Sorted(slices.Values(GatePermissions))
	if !slices.Equal(have, wantPerms) {
		diffs = append(diffs, fmt.Sprintf("permissions: %s -> %s", strings.Join(have, ","),
			strings.Join(wantPerms, ",")))
	}
	return diffs
}

// findRobot returns the project robot whose login name ends in "<project>+<name>", which
// holds whatever robot name prefix Harbor is configured with, or nil.
func findRobot(ctx context.Context, api *client.HarborAPI, project, name string,
	id int64) (*models.Robot, error) {
	if id == 0 {
		return nil, nil
	}
	q := fmt.Sprintf("Level=%s,ProjectID=%d", robotLevelProject, id)
	pageSize := int64(100)
	var seen int64
	for page := int64(1); ; page++ {
		params := robot.NewListRobotParamsWithContext(ctx).WithQ(&q).WithPage(&page).
			WithPageSize(&pageSize)
		resp, err := api.Robot.ListRobot(ctx, params)
		if err != nil {
			return nil, wrapHarbor(err, "listing robots of project %s", project)
		}
		for _, rb := range resp.Payload {
			if rb != nil && strings.HasSuffix(rb.Name, project+"+"+name) {
				return rb, nil
			}
		}
		seen += int64(len(resp.Payload))
		if seen >= resp.XTotalCount || len(resp.Payload) == 0 {
			return nil, nil
		}
	}
}

func createRobotStep(project string, want *Robot) step {
	return func(ctx context.Context, a *applier) error {
		body := &models.RobotCreate{Name: want.Name, Description: want.Description,
			Level: robotLevelProject, Duration: want.duration(),
			Permissions: robotPermissions(project)}
		resp, err := a.api.Robot.CreateRobot(ctx,
			robot.NewCreateRobotParamsWithContext(ctx).WithRobot(body))
		if err != nil {
			return wrapHarbor(err, "creating robot %s in project %s", want.Name, project)
		}
		a.result.Robot = &RobotCredentials{Username: resp.Payload.Name,
			Secret: resp.Payload.Secret}
		return nil
	}
}

func updateRobotStep(project string, want *Robot, current *models.Robot) step {
	return func(ctx context.Context, a *applier) error {
		duration := want.duration()
		body := &models.Robot{ID: current.ID, Name: current.Name, Level: robotLevelProject,
			Description: want.Description, Duration: &duration, Disable: false,
			Permissions: robotPermissions(project)}
		_, err := a.api.Robot.UpdateRobot(ctx, robot.NewUpdateRobotParamsWithContext(ctx).
			WithRobotID(current.ID).WithRobot(body))
		return wrapHarbor(err, "updating robot %s", current.Name)
	}
}

// refreshRobotStep requests a new random secret from Harbor, which it returns once.
func refreshRobotStep(current *models.Robot) step {
	return func(ctx context.Context, a *applier) error {
		resp, err := a.api.Robot.RefreshSec(ctx, robot.NewRefreshSecParamsWithContext(ctx).
			WithRobotID(current.ID).WithRobotSec(&models.RobotSec{}))
		if err != nil {
			return wrapHarbor(err, "refreshing the secret of robot %s", current.Name)
		}
		a.result.Robot = &RobotCredentials{Username: current.Name,
			Secret: resp.Payload.Secret}
		return nil
	}
}
