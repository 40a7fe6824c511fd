package harbor

import (
	"context"
	"errors"
	"fmt"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/ping"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/systeminfo"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// pong is the body of Harbor's GET /api/v2.0/ping response.
const pong = "Pong"

// Ping checks that Harbor's API responds at the configured URL. Harbor serves /ping without
// authentication, so Ping does not check the credentials. It returns an error wrapping
// ErrUnexpectedResponse when the response body is not "Pong", which usually means that the
// URL does not point to Harbor.
func (c *Client) Ping(ctx context.Context) error {
	cl := c.newCall("", "pinging Harbor at %s", c.URL())
	params := ping.NewGetPingParamsWithTimeout(c.timeout).WithXRequestID(&cl.requestID)
	resp, err := c.api.Ping.GetPing(ctx, params)
	if err != nil {
		return cl.wrap(err)
	}
	if resp.Payload != pong {
		return fmt.Errorf("%s: %w: the response body is %.40q instead of %q, "+
			"so check that the URL points to Harbor",
			cl.op, ErrUnexpectedResponse, resp.Payload, pong)
	}
	return nil
}

// SystemInfo returns Harbor's general information. Harbor returns only the authentication
// settings to anonymous callers, and adds the version, the external URL and the registry
// host for any authenticated caller, robots included.
func (c *Client) SystemInfo(ctx context.Context) (*models.GeneralInfo, error) {
	cl := c.newCall("", "getting system information from Harbor at %s", c.URL())
	params := systeminfo.NewGetSystemInfoParamsWithTimeout(c.timeout).WithXRequestID(&cl.requestID)
	resp, err := c.api.Systeminfo.GetSystemInfo(ctx, params)
	if err != nil {
		return nil, cl.wrap(err)
	}
	if resp.Payload == nil {
		return nil, fmt.Errorf("%s: %w: empty body", cl.op, ErrUnexpectedResponse)
	}
	return resp.Payload, nil
}

// Project returns the project called name. For a user who is not a system administrator,
// Harbor returns 403 both when the project does not exist and when the user lacks access, so
// the error then unwraps to ErrForbidden rather than ErrNotFound.
func (c *Client) Project(ctx context.Context, name string) (*models.Project, error) {
	if name == "" {
		return nil, errors.New("getting project: missing project name")
	}
	cl := c.newCall(name, "getting project %q", name)
	isName := true // A project called "42" must not be read as the project with ID 42.
	params := project.NewGetProjectParamsWithTimeout(c.timeout).
		WithProjectNameOrID(name).
		WithXIsResourceName(&isName).
		WithXRequestID(&cl.requestID)
	resp, err := c.api.Project.GetProject(ctx, params)
	if err != nil {
		return nil, cl.wrap(err)
	}
	if resp.Payload == nil {
		return nil, fmt.Errorf("%s: %w: empty body", cl.op, ErrUnexpectedResponse)
	}
	return resp.Payload, nil
}
