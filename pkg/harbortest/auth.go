package harbortest

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
)

type principalKind int

const (
	anonymous principalKind = iota
	systemAdmin
	projectUser
	projectRobot
)

// principal is the security context of a request: who it is and where it is a member.
type principal struct {
	kind     principalKind
	name     string
	projects []string // projects where a user is project administrator, or the robot's one
	grants   []string // a robot's permissions in its project
}

// Permissions as Harbor names them, "<resource>:<action>".
const (
	permPull            = "repository:pull"
	permPush            = "repository:push"
	permDelete          = "repository:delete"
	permProjectRead     = "project:read"
	permProjectUpdate   = "project:update"
	permMetadataRead    = "metadata:read"
	permMetadataList    = "metadata:list"
	permMetadataCreate  = "metadata:create"
	permMetadataUpdate  = "metadata:update"
	permArtifactRead    = "artifact:read"
	permArtifactList    = "artifact:list"
	permAccessoryList   = "accessory:list"
	permAdditionRead    = "artifact-addition:read"
	permTagList         = "tag:list"
	permScanCreate      = "scan:create"
	permScanRead        = "scan:read"
	permScanStop        = "scan:stop"
	permPolicyList      = "notification-policy:list"
	permPolicyCreate    = "notification-policy:create"
	permPolicyRead      = "notification-policy:read"
	permPolicyUpdate    = "notification-policy:update"
	permPolicyDelete    = "notification-policy:delete"
	permImmutableList   = "immutable-tag:list"
	permImmutableCreate = "immutable-tag:create"
	permImmutableUpdate = "immutable-tag:update"
	permImmutableDelete = "immutable-tag:delete"
	permRobotCreate     = "robot:create"
	permRobotRead       = "robot:read"
	permRobotList       = "robot:list"
	permRobotUpdate     = "robot:update"
	permRobotDelete     = "robot:delete"
	permRetentionCreate = "tag-retention:create"
	permRetentionRead   = "tag-retention:read"
	permRetentionList   = "tag-retention:list"
	permRetentionUpdate = "tag-retention:update"
	permRetentionDelete = "tag-retention:delete"
)

// guestPermissions apply to everyone, anonymous callers included, on a public project.
var guestPermissions = []string{
	permPull, permProjectRead, permMetadataRead, permMetadataList, permArtifactRead,
	permArtifactList, permAccessoryList, permAdditionRead, permTagList, permScanRead,
}

// robotPermissions are those of the robot a Tekton task uses: push and pull, read and list
// artifacts, accessories, tags and vulnerability additions, and create, read and stop scans.
// WithRobot grants them.
var robotPermissions = []string{
	permPush, permPull, permArtifactRead, permArtifactList, permAccessoryList,
	permAdditionRead, permTagList, permScanCreate, permScanRead, permScanStop,
}

// projectAdminPermissions apply to a user in the projects given to WithUser.
var projectAdminPermissions = append([]string{
	permPush, permDelete, permProjectUpdate, permMetadataCreate, permMetadataUpdate,
	permScanCreate, permScanStop, permPolicyList, permPolicyCreate, permPolicyRead,
	permPolicyUpdate, permPolicyDelete, permImmutableList, permImmutableCreate,
	permImmutableUpdate, permImmutableDelete, permRobotCreate, permRobotRead, permRobotList,
	permRobotUpdate, permRobotDelete, permRetentionCreate, permRetentionRead,
	permRetentionList, permRetentionUpdate, permRetentionDelete,
}, guestPermissions...)

// authenticate resolves HTTP Basic credentials. It returns ok=false when credentials were
// sent but are wrong; a request without credentials is anonymous and ok.
func (s *Server) authenticate(r *http.Request) (principal, bool) {
	name, password, sent := r.BasicAuth()
	if !sent {
		return principal{kind: anonymous}, true
	}
	if name == s.adminUser && secretEqual(password, s.adminPassword) {
		return principal{kind: systemAdmin, name: name}, true
	}
	if u, ok := s.users[name]; ok && secretEqual(password, u.password) {
		return principal{kind: projectUser, name: name, projects: u.projects}, true
	}
	// Harbor rejects disabled and expired robots as it rejects a wrong secret.
	if rb, ok := s.robots[name]; ok && secretEqual(password, rb.secret) &&
		rb.usable(s.clock.Now()) {
		return principal{
			kind: projectRobot, name: name, projects: []string{rb.project},
			grants: slices.Clone(rb.permissions),
		}, true
	}
	return principal{kind: anonymous}, false
}

func secretEqual(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// permissions returns what the principal may do in the project.
func (pr principal) permissions(p *project) []string {
	if pr.kind == systemAdmin {
		return slices.Concat(projectAdminPermissions, robotPermissions)
	}
	var granted []string
	if p.public() {
		granted = append(granted, guestPermissions...)
	}
	if slices.Contains(pr.projects, p.name) {
		switch pr.kind {
		case projectUser:
			granted = append(granted, projectAdminPermissions...)
		case projectRobot:
			granted = append(granted, pr.grants...)
		}
	}
	slices.Sort(granted)
	return slices.Compact(granted)
}

func (pr principal) can(p *project, permission string) bool {
	return slices.Contains(pr.permissions(p), permission)
}

// registryActions returns the registry token actions, pull, push and delete, that the
// principal holds on a repository in the project.
func (pr principal) registryActions(p *project) []string {
	var actions []string
	for _, permission := range pr.permissions(p) {
		if action, ok := strings.CutPrefix(permission, "repository:"); ok {
			actions = append(actions, action)
		}
	}
	return actions
}
