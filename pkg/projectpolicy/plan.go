package projectpolicy

import (
	"context"
	"fmt"
	"strings"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client"
)

// Action is the kind of a planned change, shown as the first character of its line.
type Action string

// Actions of a Change.
const (
	ActionCreate Action = "+"
	ActionUpdate Action = "~"
	ActionDelete Action = "-"
)

// Change is one line of a plan, such as "~ metadata severity: high -> critical". It never
// contains a secret.
type Change struct {
	Action Action
	// Kind is the changed object's kind: project, metadata, cve allowlist, immutable rule,
	// webhook policy, retention policy, robot, registry, replication policy,
	// configuration or system cve allowlist.
	Kind string
	// Summary names the object and, for an update, the differences.
	Summary string
}

// String returns the change as a plan line.
func (c Change) String() string {
	return fmt.Sprintf("%s %s %s", c.Action, c.Kind, c.Summary)
}

// step is one write of Apply. The steps of a plan run in order.
type step func(ctx context.Context, a *applier) error

// Plan contains the changes that bring Harbor to a policy document, computed by
// PlanProject or PlanInstance. Apply makes them.
type Plan struct {
	// Target names what the plan changes, such as "project platform" or "instance".
	Target  string
	changes []Change
	steps   []step
	cfg     config
	project string // the project name, empty for an instance plan
}

// Changes returns the planned changes in the order Apply makes them.
func (p *Plan) Changes() []Change { return append([]Change(nil), p.changes...) }

// Empty reports whether Harbor already matches the document.
func (p *Plan) Empty() bool { return len(p.changes) == 0 }

// String returns a heading and one line per change, or "no changes".
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n", p.Target)
	if p.Empty() {
		b.WriteString("  no changes\n")
	}
	for _, c := range p.changes {
		fmt.Fprintf(&b, "  %s\n", c)
	}
	return b.String()
}

func (p *Plan) add(action Action, kind, format string, args ...any) {
	p.changes = append(p.changes, Change{Action: action, Kind: kind,
		Summary: fmt.Sprintf(format, args...)})
}

// Result reports what Apply did.
type Result struct {
	// Steps is the number of write requests Apply sent.
	Steps int
	// Robot contains the robot's credentials when Apply created the robot or refreshed
	// its secret, and is nil otherwise. Harbor returns a robot secret only then.
	Robot *RobotCredentials
}

// RobotCredentials are a robot account's login name and secret. String and GoString
// never print the secret.
type RobotCredentials struct {
	// Username is the full login name, such as "robot$platform+harbor-gate".
	Username string
	Secret   string
}

// String returns the username and "[redacted]" in place of the secret.
func (c RobotCredentials) String() string {
	return fmt.Sprintf("{Username:%s Secret:[redacted]}", c.Username)
}

// GoString returns the same text as String.
func (c RobotCredentials) GoString() string { return c.String() }

// applier carries the state of one Apply.
type applier struct {
	api       *client.HarborAPI
	cfg       config
	projectID int64
	result    *Result
	// registryIDs maps registry endpoint names to ids once Apply has read or created them.
	registryIDs map[string]int64
}

// Apply makes the planned changes in order and stops at the first error. The changes
// before it stay in place, so planning again shows what remains. Result.Steps counts the
// writes that succeeded.
func (p *Plan) Apply(ctx context.Context, api *client.HarborAPI) (*Result, error) {
	a := &applier{api: api, cfg: p.cfg, result: &Result{}, registryIDs: map[string]int64{}}
	for _, s := range p.steps {
		if err := s(ctx, a); err != nil {
			return a.result, err
		}
		a.result.Steps++
	}
	return a.result, nil
}

// id returns the id of the plan's project, reading it from Harbor once.
func (a *applier) id(ctx context.Context, name string) (int64, error) {
	if a.projectID != 0 {
		return a.projectID, nil
	}
	p, err := getProject(ctx, a.api, name)
	if err != nil {
		return 0, err
	}
	if p == nil {
		return 0, fmt.Errorf("project %s does not exist", name)
	}
	a.projectID = int64(p.ProjectID)
	return a.projectID, nil
}

// config contains the settings of Plan and Apply that options change.
type config struct {
	secrets      SecretReader
	rotateSecret bool
}

// Option changes a setting of PlanProject and PlanInstance.
type Option func(*config)

// WithSecretReader sets where secrets are read from. The default is
// NewSecretReader(nil): files, and Kubernetes Secrets through the current kubeconfig,
// which is loaded only when a secretRef is read.
func WithSecretReader(r SecretReader) Option {
	return func(c *config) { c.secrets = r }
}

// WithRotateRobotSecret makes the plan refresh the robot's secret when the robot exists
// already, so that Result.Robot carries the new credentials. The default is false.
func WithRotateRobotSecret(rotate bool) Option {
	return func(c *config) { c.rotateSecret = rotate }
}

func newConfig(opts []Option) config {
	cfg := config{}
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.secrets == nil {
		cfg.secrets = NewSecretReader(nil)
	}
	return cfg
}
