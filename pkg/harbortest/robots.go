package harbortest

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"time"
)

// robot is a project robot account. Its permissions apply in its project only.
type robot struct {
	id          int64
	name        string // the name without prefix and project, such as "ci"
	project     string
	secret      string
	description string
	duration    int64 // days, or -1 for never expiring
	expiresAt   int64 // Unix seconds, or -1 for never
	disabled    bool
	permissions []string // "<resource>:<action>"
	created     time.Time
	updated     time.Time
}

func (r *robot) fullName() string { return RobotName(r.project, r.name) }

// usable reports whether the robot may authenticate at now: Harbor rejects disabled and
// expired robots.
func (r *robot) usable(now time.Time) bool {
	return !r.disabled && (r.expiresAt == -1 || now.Unix() <= r.expiresAt)
}

// DefaultRobotPermissions returns the permissions, "<resource>:<action>", that WithRobot
// grants: those a Tekton task needs to push, sign, scan and read the scan result.
func DefaultRobotPermissions() []string {
	return slices.Clone(robotPermissions)
}

// projectRobotPolicies is the set of permissions a project robot may hold, the "Project"
// list of PoliciesMap in Harbor v2.13 src/common/rbac/const.go. Anything else, such as
// helm-chart permissions, is rejected when a robot is created.
var projectRobotPolicies = map[string]bool{}

func init() {
	for resource, actions := range map[string][]string{
		"log":                 {"list"},
		"project":             {"read", "delete", "update"},
		"metadata":            {"read", "create", "delete", "list", "update"},
		"repository":          {"read", "update", "delete", "list", "pull", "push"},
		"artifact":            {"read", "create", "list", "delete"},
		"scan":                {"create", "read", "stop"},
		"tag":                 {"create", "list", "delete"},
		"accessory":           {"list"},
		"artifact-addition":   {"read"},
		"artifact-label":      {"create", "delete"},
		"scanner":             {"create", "read"},
		"preheat-policy":      {"read", "create", "delete", "list", "update"},
		"immutable-tag":       {"create", "delete", "list", "update"},
		"notification-policy": {"read", "create", "delete", "list", "update"},
		"tag-retention":       {"read", "create", "delete", "list", "update"},
		"label":               {"read", "create", "delete", "list", "update"},
		"quota":               {"read"},
	} {
		for _, action := range actions {
			projectRobotPolicies[resource+":"+action] = true
		}
	}
}

// robotNamePattern is Harbor's rule for robot names: lower-case letters and digits, in
// groups joined by one of "._-". A "+" is not allowed because it separates the project.
var robotNamePattern = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// robotSecretValid applies Harbor's rule for a secret that the client chooses: at least 8
// characters with an upper-case letter, a lower-case letter and a digit.
func robotSecretValid(secret string) bool {
	var upper, lower, digit bool
	for _, r := range secret {
		upper = upper || (r >= 'A' && r <= 'Z')
		lower = lower || (r >= 'a' && r <= 'z')
		digit = digit || (r >= '0' && r <= '9')
	}
	return len(secret) >= 8 && upper && lower && digit
}

// newRobotSecret returns a random secret of 32 letters and digits, the length Harbor
// generates.
func newRobotSecret() (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generating robot secret: %w", err)
	}
	for i, b := range raw {
		raw[i] = alphabet[int(b)%len(alphabet)]
	}
	return string(raw), nil
}

// robotExpiry returns the Unix time at which a robot created at created expires after
// duration days, or -1 for a duration of -1.
func robotExpiry(created time.Time, duration int64) int64 {
	if duration == -1 {
		return -1
	}
	return created.AddDate(0, 0, int(duration)).Unix()
}

// registerConfiguredRobots gives the robots of WithRobot ids and creation times, in name
// order so that ids are stable.
func (s *Server) registerConfiguredRobots() {
	names := make([]string, 0, len(s.robots))
	for name := range s.robots {
		names = append(names, name)
	}
	sort.Strings(names)
	now := s.clock.Now()
	for _, name := range names {
		rb := s.robots[name]
		rb.id = s.store.newID()
		rb.created, rb.updated = now, now
	}
}

// robotByID returns the robot with the id, or nil. The caller holds s.mu.
func (s *Server) robotByID(id int64) *robot {
	for _, rb := range s.robots {
		if rb.id == id {
			return rb
		}
	}
	return nil
}

// sortedRobots returns the robots ordered by id. The caller holds s.mu.
func (s *Server) sortedRobots() []*robot {
	list := make([]*robot, 0, len(s.robots))
	for _, rb := range s.robots {
		list = append(list, rb)
	}
	slices.SortFunc(list, func(a, b *robot) int { return int(a.id - b.id) })
	return list
}
