package harbortest

import (
	"fmt"
	"io"
	"maps"
	"strings"
	"time"
)

// Default credentials of the system administrator, as in a fresh Harbor installation.
const (
	DefaultAdminUser     = "admin"
	DefaultAdminPassword = "Harbor12345"
)

// Option configures a Server in New.
type Option func(*config)

// Project describes a Harbor project that the double creates.
type Project struct {
	// Name is the project name, the first path segment of its repositories.
	Name string
	// Public lets anyone pull and read artifacts, as Harbor's metadata "public"="true" does.
	Public bool
	// Metadata is copied into the project metadata, for example {"auto_scan": "true"}.
	// A "public" key here overrides Public.
	Metadata map[string]string
	// WithoutScanner leaves the project with no scanner, as when Harbor has no default
	// scanner registration and the project sets none: scans fail with 412.
	WithoutScanner bool
}

type user struct {
	password string
	projects []string
}

type config struct {
	addr          string
	tls           bool
	adminUser     string
	adminPassword string
	users         map[string]user
	robots        map[string]*robot
	projects      []Project
	fixture       *Fixture
	clock         Clock
	storageDir    string
	scanner       bool
	registryLog   io.Writer
	webhookRetry  func(failures int) time.Duration
	harborVersion string
	// mountUnauthorized makes blob mounts from an unreadable repository fail with 401.
	mountUnauthorized bool
	// webhookAnyTarget lets webhook deliveries leave loopback, see WithAnyWebhookTarget.
	webhookAnyTarget bool
	faults           *Faults
	errs             []error
}

func defaultConfig() config {
	return config{
		addr:          "127.0.0.1:0",
		adminUser:     DefaultAdminUser,
		adminPassword: DefaultAdminPassword,
		users:         map[string]user{},
		robots:        map[string]*robot{},
		fixture:       &Fixture{},
		clock:         realClock{},
		scanner:       true,
		registryLog:   io.Discard,
		webhookRetry:  harborRetryDelay,
		harborVersion: DefaultHarborVersion,
	}
}

// DefaultHarborVersion is the version that /systeminfo reports to authenticated callers
// unless WithHarborVersion sets another, in Harbor's "<release>-<commit>" form.
const DefaultHarborVersion = "v2.13.5-double"

// WithHarborVersion sets the harbor_version that /systeminfo reports to authenticated
// callers, such as "v2.15.0-abcdef12". The default is DefaultHarborVersion. It changes no
// behaviour of the double.
func WithHarborVersion(version string) Option {
	return func(c *config) {
		if version == "" {
			c.errs = append(c.errs, fmt.Errorf("invalid Harbor version: empty"))
			return
		}
		c.harborVersion = version
	}
}

// WithMountUnauthorized makes a cross-repository blob mount answer 401 with a challenge
// for pull on the source repository when the token lacks that pull, instead of starting a
// plain upload as Distribution does. Clients must then retry the upload without the mount.
// By default the double behaves as Distribution.
func WithMountUnauthorized() Option {
	return func(c *config) { c.mountUnauthorized = true }
}

// WithAddr sets the listen address. The default is "127.0.0.1:0", a free loopback port.
func WithAddr(addr string) Option {
	return func(c *config) { c.addr = addr }
}

// WithTLS serves https with a certificate for 127.0.0.1 and localhost, signed by a CA that
// the double generates. CACertPEM returns that CA and Client trusts it. The default is http.
func WithTLS() Option {
	return func(c *config) { c.tls = true }
}

// WithAdmin sets the system administrator's credentials. The default is admin/Harbor12345.
func WithAdmin(name, password string) Option {
	return func(c *config) {
		if name == "" || password == "" {
			c.errs = append(c.errs, fmt.Errorf("invalid admin %q: name and password are required",
				name))
			return
		}
		c.adminUser, c.adminPassword = name, password
	}
}

// WithUser adds a user who is a project administrator of the named projects: pull, push,
// delete, scan and metadata changes there, and read access to public projects.
// By default the double has no users besides the administrator.
func WithUser(name, password string, projects ...string) Option {
	return func(c *config) {
		if name == "" || password == "" || strings.HasPrefix(name, robotPrefix) {
			c.errs = append(c.errs, fmt.Errorf("invalid user %q: give a name without the %q "+
				"prefix and a password", name, robotPrefix))
			return
		}
		c.users[name] = user{password: password, projects: append([]string(nil), projects...)}
	}
}

// WithRobot adds the project robot account robot$<project>+<name> with the given secret,
// which never expires. It holds DefaultRobotPermissions in its project: push and pull, read
// and list artifacts, accessories, tags and vulnerability additions, and create, read and
// stop scans, like the robot a Tekton task uses. By default the double has no robots.
func WithRobot(project, name, secret string) Option {
	return func(c *config) {
		if project == "" || name == "" || secret == "" {
			c.errs = append(c.errs, fmt.Errorf("invalid robot %q in project %q: project, name "+
				"and secret are required", name, project))
			return
		}
		c.robots[RobotName(project, name)] = &robot{
			name: name, project: project, secret: secret, duration: -1, expiresAt: -1,
			permissions: DefaultRobotPermissions(),
		}
	}
}

// WithProject creates a project when the server starts. By default no project exists.
func WithProject(p Project) Option {
	return func(c *config) {
		p.Metadata = maps.Clone(p.Metadata)
		c.projects = append(c.projects, p)
	}
}

// WithFixture sets the scanner fixture. The default is an empty fixture: every scan takes
// 100ms Pending and 400ms Running and ends in Success with no findings.
// DefaultFixture returns the richer fixture that `harbor-gate sandbox` uses.
func WithFixture(f *Fixture) Option {
	return func(c *config) {
		if f == nil {
			c.errs = append(c.errs, fmt.Errorf("invalid fixture: nil"))
			return
		}
		c.fixture = f
	}
}

// WithClock sets the clock for push times, token expiry and scan progress. The default is
// the system clock. A clock that also has After(time.Duration) <-chan time.Time, as
// k8s.io/utils/clock/testing's FakeClock does, lets webhooks fire when a scan ends;
// with any other clock they fire on the next request that the double serves.
func WithClock(clock Clock) Option {
	return func(c *config) { c.clock = clock }
}

// WithStorageDir stores the registry's blobs and manifests under dir and keeps them after
// Close. By default the double uses a fresh temporary directory and removes it on Close.
func WithStorageDir(dir string) Option {
	return func(c *config) { c.storageDir = dir }
}

// WithScanner sets whether a scanner is registered when the server starts. Without one,
// scans fail with 412 and artifacts carry no scan overview. The default is true.
func WithScanner(registered bool) Option {
	return func(c *config) { c.scanner = registered }
}

// WithRegistryLog sends the embedded registry's log to w. The default discards it.
//
// NOTE: Distribution logs through logrus's process-wide standard logger, so New points
// that logger at w and every Server in the process shares the last writer set.
func WithRegistryLog(w io.Writer) Option {
	return func(c *config) { c.registryLog = w }
}

// RobotName returns the login name of a project robot account: robot$<project>+<name>.
func RobotName(project, name string) string {
	return robotPrefix + project + "+" + name
}

// robotPrefix is Harbor's default robot_name_prefix.
const robotPrefix = "robot$"

// WithWebhookRetryDelay sets the delay before a webhook is sent again after the given
// number of failed attempts, 1 or 2, since a delivery has at most 3 attempts. The delay
// runs on the system clock. The default is Harbor's n⁴ + 15 + rand(0..29)·(n+1) seconds,
// so tests that make a target fail should set a short delay.
func WithWebhookRetryDelay(delay func(failures int) time.Duration) Option {
	return func(c *config) {
		if delay == nil {
			c.errs = append(c.errs, fmt.Errorf("invalid webhook retry delay: nil"))
			return
		}
		c.webhookRetry = delay
	}
}
