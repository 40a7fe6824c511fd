package projectpolicy

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// testClock is a harbortest.Clock that moves only when the test advances it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const retentionPolicy = `apiVersion: harbor.druppie.dev/v1alpha1
kind: HarborProject
metadata: {name: platform}
spec:
  retention:
    schedule: ""
    deleteAfterDays: [{tags: "nightly-*", days: 14}]
`

func TestRetentionDeletesOnlyOldNightlies(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	srv := startDouble(t, harbortest.WithClock(clock))
	api := adminAPI(t, srv)
	apply(t, api, planProject(t, api, loadProject(t, retentionPolicy)))

	push := func(tag string) string {
		t.Helper()
		ref, err := name.ParseReference(srv.Host()+"/platform/app:"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		img, err := random.Image(128, 1)
		if err != nil {
			t.Fatal(err)
		}
		err = remote.Write(ref, img, remote.WithAuth(&authn.Basic{
			Username: harbortest.DefaultAdminUser, Password: harbortest.DefaultAdminPassword}),
			remote.WithTransport(srv.Client().Transport))
		if err != nil {
			t.Fatalf("pushing %s: %v", ref, err)
		}
		digest, _ := img.Digest()
		return "platform/app@" + digest.String()
	}
	oldNightly := push("nightly-1")
	push("v1.0.0")
	clock.advance(20 * 24 * time.Hour)
	push("nightly-2")

	deleted, err := srv.RunRetention("platform", false)
	if err != nil {
		t.Fatalf("RunRetention() error = %v", err)
	}
	if diff := cmp.Diff([]string{oldNightly}, deleted); diff != "" {
		t.Errorf("deleted artifacts (-want +got):\n%s", diff)
	}
}

func TestRetentionManualScheduleInSync(t *testing.T) {
	srv := startDouble(t)
	api := adminAPI(t, srv)
	p := loadProject(t, retentionPolicy)
	apply(t, api, planProject(t, api, p))
	if again := planProject(t, api, p); !again.Empty() {
		t.Errorf("second plan = %v, want no changes", planLines(again))
	}
	p.Spec.Retention.DeleteAfterDays[0].Days = 7
	p.Spec.Retention.Schedule = "0 30 2 * * *"
	want := []string{`~ retention policy schedule: "" -> "0 30 2 * * *", rules: 2 rules -> ` +
		`schedule="0 30 2 * * *" delete tags=nightly-* repos=** after 7 days, keep ` +
		"everything else"}
	if diff := cmp.Diff(want, planLines(planProject(t, api, p))); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	p.Spec.Retention.DeleteAfterDays = []DeleteAfterDays{}
	current, err := getProject(context.Background(), api, "platform")
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"- retention policy " + *current.Metadata.RetentionID +
		" (the file lists no deletions)"}
	plan := planProject(t, api, p)
	if diff := cmp.Diff(want, planLines(plan)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	apply(t, api, plan)
	if again := planProject(t, api, p); !again.Empty() {
		t.Errorf("plan after deleting = %v, want no changes", planLines(again))
	}
}
