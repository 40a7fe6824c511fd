package harbortest

import (
	"context"
	"testing"

	replicationapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/replication"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-cmp/cmp"
)

// TestReplicationPolicyDeletionField checks that the double, as Harbor v2.13, takes the
// deletion flag of a request only from "deletion" and returns it in both fields.
func TestReplicationPolicyDeletionField(t *testing.T) {
	tests := []struct {
		name                    string
		deletion, replicateFlag bool
		want                    bool
	}{
		{"deletion set", true, false, true},
		{"only replicate_deletion set", false, true, false},
		{"neither set", false, false, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t)
			admin := apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword)
			ctx := context.Background()
			registryID := createUpstream(t, admin)
			policy := &models.ReplicationPolicy{
				Name:         "to-dr",
				DestRegistry: &models.Registry{ID: registryID},
				Filters:      []*models.ReplicationFilter{{Type: "name", Value: "demo/**"}},
				Trigger:      &models.ReplicationTrigger{Type: "event_based"},
				Deletion:     tt.deletion, ReplicateDeletion: tt.replicateFlag,
			}
			created, err := admin.Replication.CreateReplicationPolicy(ctx, replicationapi.
				NewCreateReplicationPolicyParams().WithPolicy(policy))
			if err != nil {
				t.Fatalf("case %d: CreateReplicationPolicy() error = %v", i, err)
			}
			got, err := admin.Replication.GetReplicationPolicy(ctx, replicationapi.
				NewGetReplicationPolicyParams().WithID(idFromLocation(t, created.Location)))
			if err != nil {
				t.Fatalf("GetReplicationPolicy() error = %v", err)
			}
			want := [2]bool{tt.want, tt.want}
			have := [2]bool{got.Payload.Deletion, got.Payload.ReplicateDeletion}
			if diff := cmp.Diff(want, have); diff != "" {
				t.Errorf("[deletion, replicate_deletion] (-want +got):\n%s", diff)
			}
		})
	}
}
