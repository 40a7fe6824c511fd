package harbortest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/goharbor/go-client/pkg/harbor"
	artifactapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
	projectapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func TestPushWithRobotThenReadArtifact(t *testing.T) {
	srv := startServer(t)
	img := pushImage(t, srv, "demo/app:v1", robotAuth())
	digest := digestOf(t, img)

	got := getArtifact(t, apiClient(t, srv, robotLogin, robotSecret), "app", "v1", nil)

	if got.Digest != digest {
		t.Errorf("Digest = %s, want %s", got.Digest, digest)
	}
	if got.Type != "IMAGE" {
		t.Errorf("Type = %q, want IMAGE", got.Type)
	}
	if len(got.Tags) != 1 || got.Tags[0].Name != "v1" {
		t.Errorf("Tags = %v, want one tag v1", got.Tags)
	}
	if got.RepositoryName != "demo/app" {
		t.Errorf("RepositoryName = %q, want demo/app", got.RepositoryName)
	}
	var links []string
	for key := range got.AdditionLinks {
		links = append(links, key)
	}
	if diff := cmp.Diff([]string{"build_history", "vulnerabilities"}, sorted(links)); diff != "" {
		t.Errorf("addition links (-want +got):\n%s", diff)
	}
	stats := srv.Stats()
	if diff := cmp.Diff(map[string]int{"demo/app": 1}, stats.ManifestPuts); diff != "" {
		t.Errorf("ManifestPuts (-want +got):\n%s", diff)
	}
	if stats.BlobUploads != 2 {
		t.Errorf("BlobUploads = %d, want 2 (config and one layer)", stats.BlobUploads)
	}
	if stats.TokenRequests == 0 {
		t.Error("TokenRequests = 0, want the push to have fetched a token")
	}
}

func TestRepositoryNameEncoding(t *testing.T) {
	srv := startServer(t)
	pushImage(t, srv, "demo/team/app:v1", robotAuth())
	client := apiClient(t, srv, robotLogin, robotSecret)

	got := getArtifact(t, client, "team/app", "v1", nil)
	if got.RepositoryName != "demo/team/app" {
		t.Errorf("double-encoded: RepositoryName = %q, want demo/team/app", got.RepositoryName)
	}

	params := artifactapi.NewGetArtifactParams().WithProjectName("demo").
		WithRepositoryName("team/app").WithReference("v1")
	_, err := client.Artifact.GetArtifact(context.Background(), params)
	if status := apiStatus(err); status != http.StatusNotFound {
		t.Errorf("single-encoded: status = %d (error %v), want 404", status, err)
	}
}

func TestTrailingSlashBaseURLGets404(t *testing.T) {
	srv := startServer(t)
	clients, err := harbor.NewClientSet(&harbor.ClientSetConfig{
		URL: srv.URL() + "/", Username: DefaultAdminUser, Password: DefaultAdminPassword,
	})
	if err != nil {
		t.Fatal(err)
	}
	params := projectapi.NewGetProjectParams().WithProjectNameOrID("demo")
	_, err = clients.V2().Project.GetProject(context.Background(), params)
	if status := apiStatus(err); status != http.StatusNotFound {
		t.Errorf("GetProject with trailing slash: status = %d (error %v), want 404", status, err)
	}
}

func TestRegistryPermissions(t *testing.T) {
	srv := startServer(t)
	pushImage(t, srv, "demo/app:v1", robotAuth())
	tests := []struct {
		name   string
		ref    string
		auth   authn.Authenticator
		push   bool
		status int
	}{
		{name: "wrong robot secret", ref: "demo/app:v1",
			auth: &authn.Basic{Username: robotLogin, Password: "wrong"}, status: 401},
		{name: "anonymous pull of private project", ref: "demo/app:v1",
			auth: authn.Anonymous, status: 401},
		{name: "robot push into missing project", ref: "missing/app:v1", auth: robotAuth(),
			push: true, status: 401},
		{name: "admin push into missing project", ref: "missing/app:v1", auth: adminAuth(),
			push: true, status: 401},
		{name: "robot pull", ref: "demo/app:v1", auth: robotAuth(), status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref := parseRef(t, srv, tc.ref)
			var err error
			if tc.push {
				img := pushImageValue(t)
				err = remote.Write(ref, img, remoteOptions(srv, tc.auth)...)
			} else {
				_, err = remote.Get(ref, remoteOptions(srv, tc.auth)...)
			}
			if got := transportStatus(err); got != tc.status {
				t.Errorf("status = %d (error %v), want %d", got, err, tc.status)
			}
		})
	}
}

func TestTokenServiceRejectsWrongPassword(t *testing.T) {
	srv := startServer(t)
	status, header, body := rawGet(t, srv,
		"/service/token?service=harbor-registry&scope=repository:demo/app:pull",
		robotLogin, "p4ss-must-not-leak", nil)
	if status != http.StatusUnauthorized {
		t.Errorf("status = %d, want 401", status)
	}
	if got := header.Get("Content-Type"); got != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q, want application/json; charset=utf-8", got)
	}
	if !strings.HasPrefix(string(body), `{"errors":[{"code":"UNAUTHORIZED",`) ||
		!strings.HasSuffix(string(body), "}]}\n") {
		t.Errorf("body = %s, want a Harbor error with code UNAUTHORIZED", body)
	}
	if strings.Contains(string(body), "p4ss-must-not-leak") {
		t.Errorf("body = %s, must not contain the password", body)
	}
}

func TestRegistryChallenge(t *testing.T) {
	srv := startServer(t)
	status, header, _ := rawGet(t, srv, "/v2/demo/app/manifests/v1", "", "", nil)
	if status != http.StatusUnauthorized {
		t.Errorf("status = %d, want 401", status)
	}
	want := `Bearer realm="` + srv.URL() + `/service/token",service="harbor-registry",` +
		`scope="repository:demo/app:pull"`
	if got := header.Get("WWW-Authenticate"); got != want {
		t.Errorf("WWW-Authenticate = %s, want %s", got, want)
	}
}

func transportStatus(err error) int {
	if err == nil {
		return http.StatusOK
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode
	}
	return 0
}
