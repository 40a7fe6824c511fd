package projectpolicy

import (
	"errors"
	"strings"
	"testing"
)

// replicatedProject returns a project with one replication rule and a proxy cache that
// passes Validate, for tests to break one field of.
func replicatedProject() *Project {
	return &Project{APIVersion: APIVersion, Kind: KindProject,
		Metadata: ObjectMeta{Name: "platform"},
		Spec: ProjectSpec{
			Replication: []Replication{{Name: "platform-to-dr",
				Target: RegistryEndpoint{Name: "druppie-dr",
					URL: "https://registry-dr.example",
					Credential: &RegistryCredential{AccessKey: "robot$dr+replicator",
						AccessSecret: &SecretSource{File: "/s"}}},
				Filters: ReplicationFilters{Repositories: "app/**", Tags: "v*"},
				Trigger: ReplicationTrigger{Type: TriggerScheduled, Cron: "0 0 2 * * *"}}},
			ProxyCache: &ProxyCache{Upstream: RegistryEndpoint{Name: "dockerhub",
				Type: RegistryTypeDockerHub, URL: "https://hub.docker.com"}},
		}}
}

func TestValidateAcceptsReplication(t *testing.T) {
	if err := replicatedProject().Validate(); err != nil {
		t.Errorf("Validate() error = %v", err)
	}
}

func TestValidateRejectsReplication(t *testing.T) {
	tests := []struct {
		name     string
		change   func(*ProjectSpec)
		wantText string
	}{
		{"rule name", func(s *ProjectSpec) { s.Replication[0].Name = "To DR" },
			"not a valid replication rule name"},
		{"duplicate rule", func(s *ProjectSpec) {
			s.Replication = append(s.Replication, s.Replication[0])
		}, `replication rule "platform-to-dr" is listed twice`},
		{"endpoint name", func(s *ProjectSpec) { s.Replication[0].Target.Name = "" },
			"not a valid registry endpoint name"},
		{"target type", func(s *ProjectSpec) {
			s.Replication[0].Target.Type = RegistryTypeDockerHub
		}, "only harbor is supported"},
		{"http target", func(s *ProjectSpec) {
			s.Replication[0].Target.URL = "http://registry-dr.example"
		}, "set insecure: true"},
		{"target scheme", func(s *ProjectSpec) {
			s.Replication[0].Target.URL = "ftp://registry-dr.example"
		}, "the scheme must be https"},
		{"relative target", func(s *ProjectSpec) {
			s.Replication[0].Target.URL = "registry-dr.example"
		}, "not an absolute URL"},
		{"target user info", func(s *ProjectSpec) {
			s.Replication[0].Target.URL = "https://u:p@registry-dr.example"
		}, "contains user information"},
		{"missing access key", func(s *ProjectSpec) {
			s.Replication[0].Target.Credential.AccessKey = ""
		}, "missing access key"},
		{"missing access secret", func(s *ProjectSpec) {
			s.Replication[0].Target.Credential.AccessSecret = nil
		}, "missing access secret source"},
		{"access secret both sources", func(s *ProjectSpec) {
			s.Replication[0].Target.Credential.AccessSecret.SecretRef = &SecretRef{
				Namespace: "n", Name: "s", Key: "k"}
		}, "not both"},
		{"pull direction", func(s *ProjectSpec) { s.Replication[0].Direction = "pull" },
			"use a proxyCache project"},
		{"repositories pattern", func(s *ProjectSpec) {
			s.Replication[0].Filters.Repositories = "app/[*"
		}, "not a valid doublestar pattern"},
		{"tags pattern", func(s *ProjectSpec) { s.Replication[0].Filters.Tags = "v[*" },
			"not a valid doublestar pattern"},
		{"destination namespace", func(s *ProjectSpec) {
			s.Replication[0].DestinationNamespace = "DR/Platform"
		}, "not a valid Harbor project name"},
		{"trigger type", func(s *ProjectSpec) { s.Replication[0].Trigger.Type = "hourly" },
			`"hourly" is not a trigger type`},
		{"scheduled without cron", func(s *ProjectSpec) { s.Replication[0].Trigger.Cron = "" },
			"missing cron"},
		{"cron five fields", func(s *ProjectSpec) {
			s.Replication[0].Trigger.Cron = "0 2 * * *"
		}, "has 5 fields"},
		{"cron without schedule", func(s *ProjectSpec) {
			s.Replication[0].Trigger.Type = TriggerEventBased
		}, "only a scheduled trigger has a cron"},
		{"endpoint defined twice", func(s *ProjectSpec) {
			s.ProxyCache.Upstream.Name = "druppie-dr"
		}, "registry endpoint druppie-dr is defined twice"},
		{"proxy cache type", func(s *ProjectSpec) { s.ProxyCache.Upstream.Type = "" },
			"not a registry type that a proxy cache supports"},
		{"proxy cache url", func(s *ProjectSpec) {
			s.ProxyCache.Upstream.URL = "http://hub.docker.com"
		}, "spec.proxyCache.upstream.url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := replicatedProject()
			tt.change(&p.Spec)
			err := p.Validate()
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() error = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Validate() error = %q, want it to contain %q", err, tt.wantText)
			}
		})
	}
}

func TestValidateInsecureEndpointAllowsHTTP(t *testing.T) {
	p := replicatedProject()
	p.Spec.Replication[0].Target.URL = "http://registry-dr.example"
	p.Spec.Replication[0].Target.Insecure = true
	if err := p.Validate(); err != nil {
		t.Errorf("Validate() error = %v", err)
	}
}

func TestValidateEndpointAcrossProjects(t *testing.T) {
	first, second := replicatedProject(), replicatedProject()
	second.Metadata.Name = "apps"
	second.Spec.Replication[0].Name = "apps-to-dr"
	second.Spec.Replication[0].Target.URL = "https://other-dr.example"
	doc := &Document{Projects: []*Project{first, second}}
	err := doc.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Validate() error = %v, want ErrInvalid", err)
	}
	want := "in project platform as type=harbor url=https://registry-dr.example"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("Validate() error = %q, want it to contain %q", err, want)
	}
	if got := strings.Count(err.Error(), "defined twice"); got != 1 {
		t.Errorf("Validate() reports the conflict %d times, want once", got)
	}
}
