package projectpolicy

import "fmt"

// APIVersion is the apiVersion of every document this package reads.
const APIVersion = "harbor.druppie.dev/v1alpha1"

// Document kinds.
const (
	// KindProject is the kind of a document that describes one Harbor project.
	KindProject = "HarborProject"
	// KindInstance is the kind of a document that describes Harbor-wide settings.
	KindInstance = "HarborInstance"
)

// Document contains the documents of one policy file, in file order.
type Document struct {
	// Projects are the HarborProject documents.
	Projects []*Project
	// Instances are the HarborInstance documents. A file has at most one.
	Instances []*Instance
}

// ObjectMeta names a document.
type ObjectMeta struct {
	// Name is the Harbor project name for a HarborProject. A HarborInstance may leave it
	// empty.
	Name string `yaml:"name"`
}

// Project is a HarborProject document: the desired settings of one Harbor project.
type Project struct {
	APIVersion string      `yaml:"apiVersion"`
	Kind       string      `yaml:"kind"`
	Metadata   ObjectMeta  `yaml:"metadata"`
	Spec       ProjectSpec `yaml:"spec"`
}

// ProjectSpec contains the desired project settings. A field that is left out leaves the
// matching Harbor setting as it is. A list that is present, even an empty one, owns its
// kind, so Apply removes the entries that Harbor has beyond it.
type ProjectSpec struct {
	// Public makes the project readable without authentication.
	Public *bool `yaml:"public"`
	// AutoScan makes Harbor scan every pushed image (metadata auto_scan).
	AutoScan *bool `yaml:"autoScan"`
	// VulnerabilityPrevention blocks pulls of images at or above a severity.
	VulnerabilityPrevention *VulnerabilityPrevention `yaml:"vulnerabilityPrevention"`
	// CosignOnly blocks pulls of images without a cosign signature accessory (metadata
	// enable_content_trust_cosign).
	CosignOnly *bool `yaml:"cosignOnly"`
	// CVEAllowlist is the project's CVE allowlist.
	CVEAllowlist *CVEAllowlist `yaml:"cveAllowlist"`
	// ImmutableTags are the project's immutable tag rules.
	ImmutableTags []ImmutableTagRule `yaml:"immutableTags"`
	// Retention is the project's tag retention policy.
	Retention *Retention `yaml:"retention"`
	// Webhooks are the project's webhook policies, matched to Harbor's by name.
	Webhooks []Webhook `yaml:"webhooks"`
	// Robot is the project robot account that harbor-gate uses, matched by name.
	Robot *Robot `yaml:"robot"`
	// Replication lists push-based replication rules to other Harbor instances, matched
	// to Harbor's replication policies by name.
	Replication []Replication `yaml:"replication"`
	// ProxyCache makes the project a proxy cache of an upstream registry. Harbor sets
	// this only when it creates a project, so it cannot be added to an existing project.
	ProxyCache *ProxyCache `yaml:"proxyCache"`
}

// VulnerabilityPrevention maps to the project metadata prevent_vul and severity.
type VulnerabilityPrevention struct {
	Enabled bool `yaml:"enabled"`
	// Severity is the lowest blocked severity: none, low, medium, high or critical. With
	// none, any vulnerability blocks a pull.
	Severity string `yaml:"severity"`
}

// CVEAllowlist lists vulnerabilities that vulnerability prevention ignores.
type CVEAllowlist struct {
	// ReuseSystem makes the project use the system allowlist (metadata
	// reuse_sys_cve_allowlist) instead of its own items.
	ReuseSystem bool `yaml:"reuseSystem"`
	// ExpiresAt is an RFC 3339 time after which Harbor ignores the list. Empty means never.
	ExpiresAt string `yaml:"expiresAt"`
	// Items are CVE ids such as CVE-2024-0001.
	Items []string `yaml:"items"`
}

// ImmutableTagRule makes tags immutable. Harbor uses one tag selector and one repository
// selector per rule, so Tags and ExcludeTags exclude each other, and so do Repositories
// and ExcludeRepositories. Patterns are doublestar globs; repository patterns match the
// repository name without the project.
type ImmutableTagRule struct {
	Repositories        string `yaml:"repositories"`
	ExcludeRepositories string `yaml:"excludeRepositories"`
	Tags                string `yaml:"tags"`
	ExcludeTags         string `yaml:"excludeTags"`
}

// Retention is the project's tag retention policy, written as deletions. Harbor's rules
// only retain, so Plan turns each entry into a retain rule for the recent matching
// artifacts plus one rule that retains every artifact no entry covers.
type Retention struct {
	// Schedule is Harbor's six-field cron with seconds first and seconds 0, such as
	// "0 0 3 * * *". Empty means that the policy runs only when started by hand.
	Schedule string `yaml:"schedule"`
	// DeleteAfterDays lists the tags whose artifacts are deleted some days after their
	// last push.
	DeleteAfterDays []DeleteAfterDays `yaml:"deleteAfterDays"`
}

// DeleteAfterDays deletes artifacts with a tag matching Tags in repositories matching
// Repositories once their newest push is more than Days days old.
type DeleteAfterDays struct {
	Tags string `yaml:"tags"`
	Days int    `yaml:"days"`
	// Repositories defaults to "**", every repository of the project.
	Repositories string `yaml:"repositories"`
}

// Webhook is a project webhook policy with one http target.
type Webhook struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Enabled defaults to true. Harbor's own default is false, and a disabled policy never
	// fires.
	Enabled    *bool         `yaml:"enabled"`
	EventTypes []string      `yaml:"eventTypes"`
	Target     WebhookTarget `yaml:"target"`
}

// WebhookTarget is the endpoint that Harbor posts the events to.
type WebhookTarget struct {
	// Address is an https URL without a query, because Harbor drops queries.
	Address string `yaml:"address"`
	// AllowHTTP permits an http:// address, which sends the auth header in clear text.
	AllowHTTP bool `yaml:"allowHTTP"`
	// PayloadFormat is Default (the default) or CloudEvents.
	PayloadFormat string `yaml:"payloadFormat"`
	// AuthHeader is sent verbatim as the Authorization header, such as "Bearer ...".
	AuthHeader     *SecretSource `yaml:"authHeader"`
	SkipCertVerify bool          `yaml:"skipCertVerify"`
}

// Replication is a push-based replication rule: Harbor copies the project's matching
// images to a remote Harbor.
type Replication struct {
	// Name is the name of Harbor's replication policy. Policy names are unique across
	// the whole Harbor instance, not per project.
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Target is the remote Harbor. Its Type must be harbor, the default.
	Target RegistryEndpoint `yaml:"target"`
	// Direction is push, the default and the only value: from this project to Target.
	Direction string `yaml:"direction"`
	// Filters select the replicated repositories and tags.
	Filters ReplicationFilters `yaml:"filters"`
	// DestinationNamespace is the project on Target that receives the images. Empty
	// keeps the source project's name.
	DestinationNamespace string `yaml:"destinationNamespace"`
	// Trigger starts the replication. The default is a manual trigger.
	Trigger ReplicationTrigger `yaml:"trigger"`
	// Override replaces images of the same name on Target. It defaults to true, as in
	// Harbor's web interface.
	Override *bool `yaml:"override"`
	// Enabled defaults to true.
	Enabled *bool `yaml:"enabled"`
	// Deletion replicates deletions of artifacts to Target. It defaults to false.
	Deletion bool `yaml:"deletion"`
}

// ReplicationFilters select what a replication rule copies. Patterns are doublestar
// globs.
type ReplicationFilters struct {
	// Repositories matches repository names without the project and defaults to "**".
	// Plan prefixes it with "<project>/", so a rule never replicates other projects.
	Repositories string `yaml:"repositories"`
	// Tags matches tags. Empty means every tag.
	Tags string `yaml:"tags"`
}

// Replication trigger types.
const (
	TriggerManual     = "manual"
	TriggerScheduled  = "scheduled"
	TriggerEventBased = "event_based"
)

// ReplicationTrigger starts a replication.
type ReplicationTrigger struct {
	// Type is manual (the default), scheduled or event_based. An event_based rule copies
	// each pushed image and, with Deletion, each deletion.
	Type string `yaml:"type"`
	// Cron is Harbor's six-field cron with seconds first and seconds 0, such as
	// "0 0 2 * * *". Only a scheduled trigger has one.
	Cron string `yaml:"cron"`
}

// RegistryEndpoint is a Harbor registry endpoint: a remote registry that replication
// and proxy-cache projects use, matched to Harbor's endpoints by name. Endpoints are
// shared by the whole Harbor instance, so documents that name the same endpoint must
// define it the same way. Plan creates and updates endpoints but never deletes one.
type RegistryEndpoint struct {
	// Name is the endpoint's name in Harbor.
	Name string `yaml:"name"`
	// Type is Harbor's adapter type, such as harbor or docker-hub. A replication target
	// must be harbor, which is its default. A proxy-cache upstream has no default.
	Type string `yaml:"type"`
	// URL is the registry's https URL, such as https://registry-dr.example.
	URL string `yaml:"url"`
	// Insecure makes Harbor skip TLS certificate verification of the endpoint, and
	// permits an http:// URL. It defaults to false.
	Insecure bool `yaml:"insecure"`
	// Credential logs Harbor in to the endpoint. Without it Harbor calls the endpoint
	// anonymously.
	Credential *RegistryCredential `yaml:"credential"`
}

// RegistryCredential is the login of a registry endpoint. Harbor returns the access key
// but never the access secret, so Plan compares the key only.
type RegistryCredential struct {
	// AccessKey is the user name, such as a robot account name.
	AccessKey string `yaml:"accessKey"`
	// AccessSecret is the password or token.
	AccessSecret *SecretSource `yaml:"accessSecret"`
}

// ProxyCache makes a project a proxy cache: pulls through it fetch missing images from
// Upstream and keep them in the project.
type ProxyCache struct {
	// Upstream is the cached registry, such as Docker Hub.
	Upstream RegistryEndpoint `yaml:"upstream"`
}

// Robot is the project robot account for harbor-gate. Its permissions are fixed by
// GatePermissions.
type Robot struct {
	// Name is the robot name without Harbor's prefix; Harbor logs it in as
	// robot$<project>+<name>.
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// DurationDays is the lifetime in days, or -1 for a robot that never expires. Zero,
	// the default, means -1.
	DurationDays int64 `yaml:"durationDays"`
}

// SecretSource names where a secret value is read from: exactly one of File and SecretRef.
type SecretSource struct {
	// File is a path whose content is the secret. Trailing newlines are removed.
	File string `yaml:"file"`
	// SecretRef is a key of a Kubernetes Secret, read from the cluster of the current
	// kubeconfig.
	SecretRef *SecretRef `yaml:"secretRef"`
}

// SecretRef is a key of a Kubernetes Secret.
type SecretRef struct {
	Namespace string `yaml:"namespace"`
	Name      string `yaml:"name"`
	Key       string `yaml:"key"`
}

// String names the source, never the secret, for plans and error messages.
func (s *SecretSource) String() string {
	switch {
	case s == nil:
		return "nothing"
	case s.SecretRef != nil:
		return fmt.Sprintf("secret %s/%s key %s", s.SecretRef.Namespace, s.SecretRef.Name,
			s.SecretRef.Key)
	default:
		return "file " + s.File
	}
}

// Instance is a HarborInstance document: settings of the whole Harbor instance.
type Instance struct {
	APIVersion string       `yaml:"apiVersion"`
	Kind       string       `yaml:"kind"`
	Metadata   ObjectMeta   `yaml:"metadata"`
	Spec       InstanceSpec `yaml:"spec"`
}

// InstanceSpec contains the Harbor-wide settings. A field that is left out is not changed.
type InstanceSpec struct {
	// OIDC switches Harbor to OIDC authentication with these settings.
	OIDC *OIDC `yaml:"oidc"`
	// SystemCVEAllowlist is the system CVE allowlist that projects may reuse.
	SystemCVEAllowlist *CVEAllowlist `yaml:"systemCVEAllowlist"`
}

// OIDC contains Harbor's OIDC authentication settings (auth_mode oidc_auth).
type OIDC struct {
	// Name is the provider name shown on the login page. The default is "keycloak".
	Name string `yaml:"name"`
	// Endpoint is the issuer URL, such as https://keycloak.example/realms/platform.
	Endpoint     string        `yaml:"endpoint"`
	ClientID     string        `yaml:"clientID"`
	ClientSecret *SecretSource `yaml:"clientSecret"`
	GroupsClaim  string        `yaml:"groupsClaim"`
	AdminGroup   string        `yaml:"adminGroup"`
	// Scope is a comma-separated list and must contain openid. The default is
	// "openid,profile,email,offline_access".
	Scope string `yaml:"scope"`
	// VerifyCert defaults to true.
	VerifyCert *bool `yaml:"verifyCert"`
	// AutoOnboard defaults to false.
	AutoOnboard bool   `yaml:"autoOnboard"`
	UserClaim   string `yaml:"userClaim"`
}
