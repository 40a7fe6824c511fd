package projectpolicy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bmatcuk/doublestar"
)

// validProject returns a project that passes Validate, for tests to break one field of.
func validProject() *Project {
	enabled := true
	return &Project{APIVersion: APIVersion, Kind: KindProject,
		Metadata: ObjectMeta{Name: "platform"},
		Spec: ProjectSpec{
			AutoScan:                &enabled,
			VulnerabilityPrevention: &VulnerabilityPrevention{Enabled: true, Severity: "critical"},
			CVEAllowlist:            &CVEAllowlist{Items: []string{"CVE-2024-0001"}},
			ImmutableTags:           []ImmutableTagRule{{Repositories: "**", Tags: "v*"}},
			Retention: &Retention{Schedule: "0 0 3 * * *", DeleteAfterDays: []DeleteAfterDays{
				{Tags: "nightly-*", Days: 14}}},
			Webhooks: []Webhook{{Name: "core", EventTypes: []string{"SCANNING_COMPLETED"},
				Target: WebhookTarget{Address: "https://core.example/harbor"}}},
			Robot: &Robot{Name: "harbor-gate", DurationDays: -1},
		}}
}

func TestValidateAcceptsValidProject(t *testing.T) {
	if err := validProject().Validate(); err != nil {
		t.Errorf("Validate() error = %v", err)
	}
}

func TestValidateAcceptsEdgeValues(t *testing.T) {
	tests := []struct {
		name   string
		change func(*ProjectSpec)
	}{
		{"max retention days", func(s *ProjectSpec) {
			s.Retention.DeleteAfterDays[0].Days = 106751
		}},
		{"cron weekday name", func(s *ProjectSpec) { s.Retention.Schedule = "0 0 3 ? * MON" }},
		{"cron step", func(s *ProjectSpec) { s.Retention.Schedule = "0 */15 * * * *" }},
		{"cron range and list", func(s *ProjectSpec) { s.Retention.Schedule = "0 0 1-5,22 * * *" }},
		{"retention braces", func(s *ProjectSpec) {
			s.Retention.DeleteAfterDays[0].Tags = "{nightly,pr}-*"
		}},
		{"immutable character class", func(s *ProjectSpec) {
			s.ImmutableTags[0].Tags = "v[0-9]*"
		}},
		{"immutable escaped dot", func(s *ProjectSpec) { s.ImmutableTags[0].Tags = `v1\.*` }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validProject()
			tt.change(&p.Spec)
			if err := p.Validate(); err != nil {
				t.Errorf("Validate() error = %v", err)
			}
		})
	}
}

func TestMaxRetentionDaysFitsDuration(t *testing.T) {
	// The computation of Harbor's nDaysSinceLastPush evaluator, on variables so that
	// it overflows at run time as it does in Harbor.
	cutOff := func(days int) time.Duration { return time.Duration(-24*days) * time.Hour }
	if got := cutOff(maxRetentionDays); got >= 0 {
		t.Errorf("cut-off for %d days = %v, want a negative duration", maxRetentionDays, got)
	}
	if got := cutOff(maxRetentionDays + 1); got < 0 {
		t.Errorf("cut-off for %d days = %v, want the overflow that the limit avoids",
			maxRetentionDays+1, got)
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name     string
		change   func(*ProjectSpec, *Project)
		wantText string
	}{
		{"project name", func(_ *ProjectSpec, p *Project) { p.Metadata.Name = "Platform" },
			"metadata.name"},
		{"severity", func(s *ProjectSpec, _ *Project) {
			s.VulnerabilityPrevention.Severity = "severe"
		}, `"severe" is not a severity`},
		{"cve id", func(s *ProjectSpec, _ *Project) { s.CVEAllowlist.Items = []string{"x-1"} },
			`"x-1" is not a CVE id`},
		{"duplicate cve", func(s *ProjectSpec, _ *Project) {
			s.CVEAllowlist.Items = []string{"CVE-2024-0001", "CVE-2024-0001"}
		}, "listed twice"},
		{"expiry", func(s *ProjectSpec, _ *Project) { s.CVEAllowlist.ExpiresAt = "2027-06-30" },
			"RFC 3339"},
		{"reuse with items", func(s *ProjectSpec, _ *Project) { s.CVEAllowlist.ReuseSystem = true },
			"reuseSystem"},
		{"immutable all tags", func(s *ProjectSpec, _ *Project) {
			s.ImmutableTags[0].Tags = "**"
		}, "matches cosign signature tags"},
		{"immutable star", func(s *ProjectSpec, _ *Project) { s.ImmutableTags[0].Tags = "*" },
			"HTTP 412"},
		{"secret ref with a path", func(s *ProjectSpec, _ *Project) {
			s.Webhooks[0].Target.AuthHeader = &SecretSource{SecretRef: &SecretRef{
				Namespace: "harbor", Name: "../../etc", Key: "authorization"}}
		}, `invalid secretRef.name "../../etc"`},
		{"immutable sha256 prefix", func(s *ProjectSpec, _ *Project) {
			s.ImmutableTags[0].Tags = "sha256-*"
		}, `narrower pattern such as "v*"`},
		{"immutable sig suffix", func(s *ProjectSpec, _ *Project) {
			s.ImmutableTags[0].Tags = "*.sig"
		}, "referrers"},
		{"immutable excludes v", func(s *ProjectSpec, _ *Project) {
			s.ImmutableTags[0] = ImmutableTagRule{ExcludeTags: "v*"}
		}, "excludeTags \"v*\" selects every other tag"},
		{"immutable both tag fields", func(s *ProjectSpec, _ *Project) {
			s.ImmutableTags[0].ExcludeTags = "x"
		}, "either tags or excludeTags"},
		{"immutable no tags", func(s *ProjectSpec, _ *Project) {
			s.ImmutableTags[0].Tags = ""
		}, "missing tag pattern"},
		{"immutable bad pattern", func(s *ProjectSpec, _ *Project) {
			s.ImmutableTags[0].Tags = "v[*"
		}, "not a valid doublestar pattern"},
		{"cron five fields", func(s *ProjectSpec, _ *Project) { s.Retention.Schedule = "0 3 * * *" },
			"has 5 fields"},
		{"cron seconds", func(s *ProjectSpec, _ *Project) { s.Retention.Schedule = "5 0 3 * * *" },
			"seconds field must be 0"},
		{"retention days", func(s *ProjectSpec, _ *Project) {
			s.Retention.DeleteAfterDays[0].Days = 0
		}, "use 1 or more"},
		{"retention days overflow", func(s *ProjectSpec, _ *Project) {
			s.Retention.DeleteAfterDays[0].Days = 106752
		}, "use 106751 or fewer"},
		{"retention every tag", func(s *ProjectSpec, _ *Project) {
			s.Retention.DeleteAfterDays[0].Tags = "**"
		}, `pattern "**" matches every tag`},
		{"retention every tag in braces", func(s *ProjectSpec, _ *Project) {
			s.Retention.DeleteAfterDays[0].Tags = "{v*,**}"
		}, "matches every tag"},
		{"retention comma outside braces", func(s *ProjectSpec, _ *Project) {
			s.Retention.DeleteAfterDays[0].Tags = "nightly-*,pr-*"
		}, "never matches: write alternatives in braces"},
		{"immutable comma outside braces", func(s *ProjectSpec, _ *Project) {
			s.ImmutableTags[0].Tags = "v*,**"
		}, `contains ','`},
		{"immutable pipe", func(s *ProjectSpec, _ *Project) {
			s.ImmutableTags[0].Tags = "v*|release-*"
		}, `contains '|'`},
		{"immutable extglob", func(s *ProjectSpec, _ *Project) {
			s.ImmutableTags[0].Tags = "!(v*)"
		}, `contains '!'`},
		{"immutable unicode", func(s *ProjectSpec, _ *Project) {
			s.ImmutableTags[0].Tags = "v\u200b*"
		}, "never matches"},
		{"cron hour out of range", func(s *ProjectSpec, _ *Project) {
			s.Retention.Schedule = "0 0 25 * * *"
		}, "not a valid cron schedule"},
		{"cron minute out of range", func(s *ProjectSpec, _ *Project) {
			s.Retention.Schedule = "0 61 * * * *"
		}, "not a valid cron schedule"},
		{"cron words", func(s *ProjectSpec, _ *Project) { s.Retention.Schedule = "0 a b c d e" },
			"not a valid cron schedule"},
		{"cron zero step", func(s *ProjectSpec, _ *Project) {
			s.Retention.Schedule = "0 */0 * * * *"
		}, "not a valid cron schedule"},
		{"cron weekday 8", func(s *ProjectSpec, _ *Project) { s.Retention.Schedule = "0 0 3 * * 8" },
			"not a valid cron schedule"},
		{"cron dashes", func(s *ProjectSpec, _ *Project) { s.Retention.Schedule = "0 - - - - -" },
			"not a valid cron schedule"},
		{"retention repositories differ", func(s *ProjectSpec, _ *Project) {
			s.Retention.DeleteAfterDays = append(s.Retention.DeleteAfterDays,
				DeleteAfterDays{Tags: "pr-*", Days: 3, Repositories: "app"})
		}, "use one repositories pattern"},
		{"retention brace in union", func(s *ProjectSpec, _ *Project) {
			s.Retention.DeleteAfterDays = append(s.Retention.DeleteAfterDays,
				DeleteAfterDays{Tags: "{a,b}", Days: 3})
		}, "cannot be combined"},
		{"retention too many rules", func(s *ProjectSpec, _ *Project) {
			s.Retention.DeleteAfterDays = nil
			for _, c := range "abcdefghijklmno" {
				s.Retention.DeleteAfterDays = append(s.Retention.DeleteAfterDays,
					DeleteAfterDays{Tags: string(c) + "-*", Days: 1})
			}
		}, "Harbor allows 15"},
		{"event type", func(s *ProjectSpec, _ *Project) {
			s.Webhooks[0].EventTypes = []string{"CREATE_TAG"}
		}, `"CREATE_TAG" is not an event type`},
		{"no event types", func(s *ProjectSpec, _ *Project) { s.Webhooks[0].EventTypes = nil },
			"missing event types"},
		{"http target", func(s *ProjectSpec, _ *Project) {
			s.Webhooks[0].Target.Address = "http://core.example/h"
		}, "allowHTTP"},
		{"target query", func(s *ProjectSpec, _ *Project) {
			s.Webhooks[0].Target.Address = "https://core.example/h?token=x"
		}, "Harbor drops"},
		{"relative target", func(s *ProjectSpec, _ *Project) {
			s.Webhooks[0].Target.Address = "core.example/h"
		}, "not an absolute URL"},
		{"payload format", func(s *ProjectSpec, _ *Project) {
			s.Webhooks[0].Target.PayloadFormat = "cloudevents"
		}, "not a payload format"},
		{"duplicate webhook", func(s *ProjectSpec, _ *Project) {
			s.Webhooks = append(s.Webhooks, s.Webhooks[0])
		}, "listed twice"},
		{"auth header both sources", func(s *ProjectSpec, _ *Project) {
			s.Webhooks[0].Target.AuthHeader = &SecretSource{File: "f",
				SecretRef: &SecretRef{Namespace: "n", Name: "s", Key: "k"}}
		}, "not both"},
		{"auth header incomplete ref", func(s *ProjectSpec, _ *Project) {
			s.Webhooks[0].Target.AuthHeader = &SecretSource{SecretRef: &SecretRef{Name: "s"}}
		}, "namespace, name and key"},
		{"robot name", func(s *ProjectSpec, _ *Project) { s.Robot.Name = "robot$gate" },
			"not a valid robot name"},
		{"robot duration", func(s *ProjectSpec, _ *Project) { s.Robot.DurationDays = -2 },
			"not a lifetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validProject()
			tt.change(&p.Spec, p)
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

func TestSampleSignatureTagMatchesBroadPatterns(t *testing.T) {
	for _, pattern := range []string{"**", "*", "sha256-*", "*.sig"} {
		matched, err := doublestar.Match(pattern, SampleSignatureTag)
		if err != nil || !matched {
			t.Errorf("doublestar.Match(%q, sample) = %t, %v; want true", pattern, matched, err)
		}
	}
	if matched, _ := doublestar.Match("v*", SampleSignatureTag); matched {
		t.Error(`doublestar.Match("v*", sample) = true, want false`)
	}
}

func TestValidateInstance(t *testing.T) {
	good := &Instance{Spec: InstanceSpec{OIDC: &OIDC{
		Endpoint: "https://keycloak.example/realms/p", ClientID: "harbor",
		ClientSecret: &SecretSource{File: "/s"}}}}
	if err := good.Validate(); err != nil {
		t.Errorf("Validate() error = %v", err)
	}
	tests := []struct {
		name     string
		oidc     OIDC
		wantText string
	}{
		{"http endpoint", OIDC{Endpoint: "http://k/realms/p", ClientID: "h",
			ClientSecret: &SecretSource{File: "/s"}}, "not an https issuer URL"},
		{"no client id", OIDC{Endpoint: "https://k/realms/p",
			ClientSecret: &SecretSource{File: "/s"}}, "missing client id"},
		{"no secret", OIDC{Endpoint: "https://k/realms/p", ClientID: "h"},
			"missing client secret source"},
		{"scope without openid", OIDC{Endpoint: "https://k/realms/p", ClientID: "h",
			ClientSecret: &SecretSource{File: "/s"}, Scope: "profile,email"}, "lacks openid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &Instance{Spec: InstanceSpec{OIDC: &tt.oidc}}
			err := in.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Validate() error = %v, want it to contain %q", err, tt.wantText)
			}
		})
	}
}
