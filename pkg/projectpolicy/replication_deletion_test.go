package projectpolicy

import (
	"context"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/replication"
	"github.com/google/go-cmp/cmp"
)

func TestApplyReplicationDeletionConverges(t *testing.T) {
	srv := startDouble(t)
	api := adminAPI(t, srv)
	secretFile := writeFile(t, t.TempDir(), "dr-secret", replicationSecret)
	p := loadProject(t, replicationPolicy(secretFile))
	p.Spec.Replication[0].Deletion = true
	apply(t, api, planProject(t, api, p))

	policies, err := listReplicationPolicies(context.Background(), api)
	if err != nil {
		t.Fatal(err)
	}
	if len(policies) != 1 {
		t.Fatalf("replication policies = %d, want 1", len(policies))
	}
	if !policies[0].Deletion {
		t.Errorf("deletion of %s = false, want true", policies[0].Name)
	}
	if again := planProject(t, api, p); !again.Empty() {
		t.Errorf("plan after apply = %v, want no changes", planLines(again))
	}
}

func TestPlanReplicationDeletionDrift(t *testing.T) {
	srv := startDouble(t)
	api := adminAPI(t, srv)
	secretFile := writeFile(t, t.TempDir(), "dr-secret", replicationSecret)
	p := loadProject(t, replicationPolicy(secretFile))
	apply(t, api, planProject(t, api, p))
	ctx := context.Background()
	policies, err := listReplicationPolicies(ctx, api)
	if err != nil {
		t.Fatal(err)
	}
	changed := *policies[0]
	changed.Deletion = true
	if _, err := api.Replication.UpdateReplicationPolicy(ctx, replication.
		NewUpdateReplicationPolicyParams().WithID(changed.ID).WithPolicy(&changed)); err != nil {
		t.Fatal(err)
	}

	want := []string{"~ replication policy platform-to-dr deletion: true -> false"}
	if diff := cmp.Diff(want, planLines(planProject(t, api, p))); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}
