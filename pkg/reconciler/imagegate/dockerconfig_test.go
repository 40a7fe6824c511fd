package imagegate

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

const configPassword = "pull-secret-Tz64"

func TestParseDockerConfigResolves(t *testing.T) {
	auth := base64.StdEncoding.EncodeToString([]byte("hub-user:" + configPassword))
	config := fmt.Sprintf(`{"auths": {
		"harbor.example": {"username": "robot$team+pull", "password": %q},
		"https://index.docker.io/v1/": {"auth": %q},
		"http://127.0.0.1:5000/v2/": {"username": "local", "password": %q, "auth": "ignored"}
	}}`, configPassword, auth, configPassword)
	keychain, err := parseDockerConfig([]byte(config))
	if err != nil {
		t.Fatalf("parseDockerConfig: %v", err)
	}
	tests := []struct {
		image string
		want  authn.AuthConfig
	}{
		{"harbor.example/team/app:v1",
			authn.AuthConfig{Username: "robot$team+pull", Password: configPassword}},
		{"library/alpine:3", authn.AuthConfig{Username: "hub-user", Password: configPassword}},
		{"127.0.0.1:5000/app:v1", authn.AuthConfig{Username: "local", Password: configPassword}},
		{"other.example/app:v1", authn.AuthConfig{}},
	}
	for _, tc := range tests {
		ref, err := name.ParseReference(tc.image)
		if err != nil {
			t.Fatal(err)
		}
		authenticator, err := keychain.Resolve(ref.Context())
		if err != nil {
			t.Fatalf("Resolve(%s): %v", tc.image, err)
		}
		got, err := authenticator.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, *got); diff != "" {
			t.Errorf("credentials for %s (-want +got):\n%s", tc.image, diff)
		}
	}
	for _, text := range []string{keychain.String(), fmt.Sprintf("%#v", keychain)} {
		if strings.Contains(text, configPassword) || strings.Contains(text, "robot$team") {
			t.Errorf("String() = %q, want no credential in it", text)
		}
		if !strings.Contains(text, "harbor.example") {
			t.Errorf("String() = %q, want it to name the registries", text)
		}
	}
}

func TestParseDockerConfigRejects(t *testing.T) {
	tests := []struct {
		name        string
		config      string
		wantMessage string
	}{
		{"not JSON", `{"auths": ` + configPassword, "it is not valid JSON (error at byte 11)"},
		{"wrong type", `{"auths": {"h": {"password": 12}}}`,
			`the field "auths.password" has the wrong type: expected string`},
		{"no auths", `{"credsStore": "desktop"}`, `it has no "auths" object`},
		{"auth not base64", `{"auths": {"h": {"auth": "` + configPassword + `!"}}}`,
			`the entry for "h": "auth" is not valid base64`},
		{"auth without colon", fmt.Sprintf(`{"auths": {"h": {"auth": %q}}}`,
			base64.StdEncoding.EncodeToString([]byte(configPassword))),
			`the entry for "h": "auth" does not decode to username:password`},
		{"invalid registry", `{"auths": {"Bad Host": {"username": "u"}}}`,
			`invalid registry "Bad Host" in "auths"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseDockerConfig([]byte(tc.config))
			if err == nil {
				t.Fatal("parseDockerConfig succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.wantMessage) {
				t.Errorf("error = %q, want it to contain %q", err, tc.wantMessage)
			}
			if strings.Contains(err.Error(), configPassword) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}
