package harbortest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	v2client "github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/configure"
	registryapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/registry"
	replicationapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/replication"
	retentionapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/retention"
	robotapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/robot"
	sysallowlist "github.com/goharbor/go-client/pkg/sdk/v2.0/client/system_cve_allowlist"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// exercisePolicyRoutes calls the robot, allowlist, retention, configuration, registry and
// replication routes once each through go-client, for TestAPIRoutesMatchSwagger.
func exercisePolicyRoutes(t *testing.T, admin *v2client.HarborAPI) {
	t.Helper()
	ctx := context.Background()
	check := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	robot := createRobot(t, admin, robotRequest("routes", "repository:pull"))
	robotID := robot.Payload.ID
	q := "Level=project,ProjectID=1"
	_, err := admin.Robot.ListRobot(ctx, robotapi.NewListRobotParams().WithQ(&q))
	check("list robots", err)
	got, err := admin.Robot.GetRobotByID(ctx, robotapi.NewGetRobotByIDParams().
		WithRobotID(robotID))
	check("get robot", err)
	if got != nil {
		_, err = admin.Robot.UpdateRobot(ctx, robotapi.NewUpdateRobotParams().
			WithRobotID(robotID).WithRobot(got.Payload))
		check("update robot", err)
	}
	_, err = admin.Robot.RefreshSec(ctx, robotapi.NewRefreshSecParams().WithRobotID(robotID).
		WithRobotSec(&models.RobotSec{}))
	check("refresh robot secret", err)
	_, err = admin.Robot.DeleteRobot(ctx, robotapi.NewDeleteRobotParams().WithRobotID(robotID))
	check("delete robot", err)

	_, err = admin.SystemCVEAllowlist.PutSystemCVEAllowlist(ctx, sysallowlist.
		NewPutSystemCVEAllowlistParams().WithAllowlist(allowlistBody(0, nil, "CVE-2024-1")))
	check("put system allowlist", err)
	_, err = admin.SystemCVEAllowlist.GetSystemCVEAllowlist(ctx,
		sysallowlist.NewGetSystemCVEAllowlistParams())
	check("get system allowlist", err)

	exerciseRetentionRoutes(t, admin)

	_, err = admin.Configure.UpdateConfigurations(ctx, configure.
		NewUpdateConfigurationsParams().WithConfigurations(oidcConfiguration()))
	check("update configurations", err)
	_, err = admin.Configure.GetConfigurations(ctx, configure.NewGetConfigurationsParams())
	check("get configurations", err)

	exerciseReplicationRoutes(t, admin)
}

func exerciseRetentionRoutes(t *testing.T, admin *v2client.HarborAPI) {
	t.Helper()
	ctx := context.Background()
	check := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err := admin.Retention.GetRentenitionMetadata(ctx,
		retentionapi.NewGetRentenitionMetadataParams())
	check("retention metadata", err)
	id := createRetention(t, admin, nightlyPolicy())
	got, err := admin.Retention.GetRetention(ctx, retentionapi.NewGetRetentionParams().WithID(id))
	check("get retention", err)
	if got != nil {
		_, err = admin.Retention.UpdateRetention(ctx, retentionapi.NewUpdateRetentionParams().
			WithID(id).WithPolicy(got.Payload))
		check("update retention", err)
	}
	_, _, err = admin.Retention.TriggerRetentionExecution(ctx, retentionapi.
		NewTriggerRetentionExecutionParams().WithID(id).
		WithBody(retentionapi.TriggerRetentionExecutionBody{DryRun: true}))
	check("trigger retention", err)
	executions, err := admin.Retention.ListRetentionExecutions(ctx,
		retentionapi.NewListRetentionExecutionsParams().WithID(id))
	check("list retention executions", err)
	if executions != nil && len(executions.Payload) > 0 {
		_, err = admin.Retention.ListRetentionTasks(ctx, retentionapi.
			NewListRetentionTasksParams().WithID(id).WithEid(executions.Payload[0].ID))
		check("list retention tasks", err)
	}
	_, err = admin.Retention.DeleteRetention(ctx, retentionapi.NewDeleteRetentionParams().
		WithID(id))
	check("delete retention", err)
}

func exerciseReplicationRoutes(t *testing.T, admin *v2client.HarborAPI) {
	t.Helper()
	ctx := context.Background()
	check := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	registryID := createUpstream(t, admin)
	_, err := admin.Registry.ListRegistries(ctx, registryapi.NewListRegistriesParams())
	check("list registries", err)
	_, err = admin.Registry.GetRegistry(ctx, registryapi.NewGetRegistryParams().
		WithID(registryID))
	check("get registry", err)
	insecure := true
	_, err = admin.Registry.UpdateRegistry(ctx, registryapi.NewUpdateRegistryParams().
		WithID(registryID).WithRegistry(&models.RegistryUpdate{Insecure: &insecure}))
	check("update registry", err)

	policy := &models.ReplicationPolicy{Name: "routes", DestRegistry: &models.Registry{
		ID: registryID}, Trigger: &models.ReplicationTrigger{Type: "manual"},
		Filters: []*models.ReplicationFilter{{Type: "name", Value: "demo/**"}}}
	created, err := admin.Replication.CreateReplicationPolicy(ctx, replicationapi.
		NewCreateReplicationPolicyParams().WithPolicy(policy))
	check("create replication policy", err)
	_, err = admin.Replication.ListReplicationPolicies(ctx,
		replicationapi.NewListReplicationPoliciesParams())
	check("list replication policies", err)
	if created == nil {
		return
	}
	policyID := idFromLocation(t, created.Location)
	_, err = admin.Replication.GetReplicationPolicy(ctx, replicationapi.
		NewGetReplicationPolicyParams().WithID(policyID))
	check("get replication policy", err)
	policy.Enabled = true
	_, err = admin.Replication.UpdateReplicationPolicy(ctx, replicationapi.
		NewUpdateReplicationPolicyParams().WithID(policyID).WithPolicy(policy))
	check("update replication policy", err)
	_, err = admin.Replication.DeleteReplicationPolicy(ctx, replicationapi.
		NewDeleteReplicationPolicyParams().WithID(policyID))
	check("delete replication policy", err)
	_, err = admin.Registry.DeleteRegistry(ctx, registryapi.NewDeleteRegistryParams().
		WithID(registryID))
	check("delete registry", err)
}

// rawJSON sends a request with a JSON body and optional Basic credentials and returns the
// status and the response body.
func rawJSON(t *testing.T, srv *Server, method, path, username, password string,
	body any) (int, []byte) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, srv.URL()+path, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if username != "" {
		req.SetBasicAuth(username, password)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// idFromLocation returns the numeric id at the end of a Location header.
func idFromLocation(t *testing.T, location string) int64 {
	t.Helper()
	id, err := strconv.ParseInt(location[strings.LastIndex(location, "/")+1:], 10, 64)
	if err != nil {
		t.Fatalf("Location %q has no id: %v", location, err)
	}
	return id
}
