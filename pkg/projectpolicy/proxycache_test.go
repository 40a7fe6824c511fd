package projectpolicy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const proxyCacheSecret = "hub-token-1"

// proxyCachePolicy returns a proxy-cache project document named name whose upstream
// secret is read from secretFile.
func proxyCachePolicy(name, secretFile string) string {
	return `apiVersion: harbor.druppie.dev/v1alpha1
kind: HarborProject
metadata: {name: ` + name + `}
spec:
  public: true
  proxyCache:
    upstream:
      name: dockerhub
      type: docker-hub
      url: https://hub.docker.com
      credential:
        accessKey: druppie
        accessSecret: {file: ` + secretFile + `}
`
}

func TestApplyProxyCacheProject(t *testing.T) {
	srv := startDouble(t)
	api := adminAPI(t, srv)
	secretFile := writeFile(t, t.TempDir(), "hub", proxyCacheSecret)
	p := loadProject(t, proxyCachePolicy("dockerhub-cache", secretFile))

	plan := planProject(t, api, p)
	want := []string{
		"+ registry dockerhub type=docker-hub url=https://hub.docker.com insecure=false " +
			"(access key druppie, access secret set from file " + secretFile + ")",
		"+ project dockerhub-cache (proxy cache of registry dockerhub)",
		"+ metadata public: true",
	}
	if diff := cmp.Diff(want, planLines(plan)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if strings.Contains(plan.String(), proxyCacheSecret) {
		t.Errorf("plan contains the access secret:\n%s", plan)
	}
	apply(t, api, plan)

	ctx := context.Background()
	registries, err := listRegistries(ctx, api)
	if err != nil {
		t.Fatal(err)
	}
	hub := registries["dockerhub"]
	if hub == nil {
		t.Fatal("registry dockerhub was not created")
	}
	created, err := getProject(ctx, api, "dockerhub-cache")
	if err != nil {
		t.Fatal(err)
	}
	if created == nil || created.RegistryID != hub.ID {
		t.Fatalf("project dockerhub-cache = %+v, want registry_id %d", created, hub.ID)
	}
	if created.Metadata == nil || created.Metadata.Public != "true" {
		t.Errorf("project metadata = %+v, want public true", created.Metadata)
	}
	if again := planProject(t, api, p); !again.Empty() {
		t.Errorf("second plan = %v, want no changes", planLines(again))
	}
}

func TestPlanProxyCacheOnNormalProject(t *testing.T) {
	srv := startDouble(t)
	api := adminAPI(t, srv)
	secretFile := writeFile(t, t.TempDir(), "hub", proxyCacheSecret)
	p := loadProject(t, proxyCachePolicy("platform", secretFile))

	writes := writeRequests(srv)
	_, err := PlanProject(context.Background(), api, p)
	if !errors.Is(err, ErrProxyCache) {
		t.Fatalf("PlanProject() error = %v, want ErrProxyCache", err)
	}
	for _, text := range []string{"project platform exists as a normal project",
		"cannot turn an existing project into a proxy cache of dockerhub"} {
		if !strings.Contains(err.Error(), text) {
			t.Errorf("PlanProject() error = %q, want it to contain %q", err, text)
		}
	}
	if strings.Contains(err.Error(), proxyCacheSecret) {
		t.Errorf("PlanProject() error contains the access secret: %q", err)
	}
	if got := writeRequests(srv); got != writes {
		t.Errorf("write requests = %d, want %d", got, writes)
	}
}

func TestPlanProxyCacheOtherUpstream(t *testing.T) {
	srv := startDouble(t)
	api := adminAPI(t, srv)
	secretFile := writeFile(t, t.TempDir(), "hub", proxyCacheSecret)
	apply(t, api, planProject(t, api, loadProject(t,
		proxyCachePolicy("dockerhub-cache", secretFile))))

	moved := loadProject(t, strings.ReplaceAll(proxyCachePolicy("dockerhub-cache",
		secretFile), "name: dockerhub\n", "name: dockerhub-mirror\n"))
	_, err := PlanProject(context.Background(), api, moved)
	if !errors.Is(err, ErrProxyCache) {
		t.Fatalf("PlanProject() error = %v, want ErrProxyCache", err)
	}
	if !strings.Contains(err.Error(), "not of registry dockerhub-mirror") {
		t.Errorf("PlanProject() error = %q, want it to name dockerhub-mirror", err)
	}
}
