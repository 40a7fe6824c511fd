package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/druppie/harbor-gate/pkg/harbortest"
)

func TestProjectLoginHints(t *testing.T) {
	const robotSecret = "robot-secret-1"
	srv, err := harbortest.New(harbortest.WithProject(harbortest.Project{Name: "platform"}),
		harbortest.WithRobot("platform", "ci", robotSecret))
	if err != nil {
		t.Fatalf("harbortest.New() error = %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	fx := &projectFixture{srv: srv, dir: t.TempDir()}
	fx.policy = fx.write(t, "project.yaml", "apiVersion: harbor.druppie.dev/v1alpha1\n"+
		"kind: HarborProject\nmetadata: {name: platform}\nspec: {autoScan: true}\n")
	tests := []struct {
		name, username, password, wantText string
	}{
		{"robot account", harbortest.RobotName("platform", "ci"), robotSecret,
			"HARBOR_ADMIN_USERNAME"},
		{"wrong password", harbortest.DefaultAdminUser, "wrong-password",
			"check --username and --password-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			passwordFile := fx.write(t, "password", tt.password)
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), []string{"project", "diff", "-f", fx.policy,
				"--harbor-url", srv.URL(), "--username", tt.username,
				"--password-file", passwordFile}, &stdout, &stderr)
			if code != ExitError {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, ExitError, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantText) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.wantText)
			}
			if strings.Contains(stderr.String(), tt.password) {
				t.Errorf("stderr = %q contains the password", stderr.String())
			}
		})
	}
}
