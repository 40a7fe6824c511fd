package harbortest

import (
	"fmt"
	"net/http"
	"strings"
	"unicode"
)

// Project metadata keys of the pull policies.
const (
	metaPreventVulnerable = "prevent_vul"
	metaSeverity          = "severity"
	metaCosignOnly        = "enable_content_trust_cosign"
)

// Harbor's error code for pulls that a project policy blocks.
const codePolicyViolation = "PROJECTPOLICYVIOLATION"

// checkPullPolicies applies the project's pull policies to a GET or HEAD of a manifest, in
// the order of Harbor v2.13's middleware chain: cosign content trust first, then
// vulnerability prevention. It returns the 412 error for a blocked pull, or nil. For HEAD,
// net/http drops the body, so the client sees only the status, as with Harbor.
func (s *Server) checkPullPolicies(r *http.Request, route registryRoute,
	claims *tokenClaims) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo := s.store.repositories[route.repository]
	if repo == nil {
		return nil
	}
	art := repo.artifactByReference(route.rest)
	if art == nil || skipsPullPolicies(r, route, claims, art) {
		return nil
	}
	metadata := repo.project.metadata
	if metadata[metaCosignOnly] == "true" && !repo.hasCosignSignature(art.digest) {
		return newAPIError(http.StatusPreconditionFailed, codePolicyViolation,
			"The image is not signed by cosign.")
	}
	if metadata[metaPreventVulnerable] == "true" {
		return s.checkVulnerable(art, metadata[metaSeverity])
	}
	return nil
}

// skipsPullPolicies reports whether Harbor v2.13 lets the pull through without policy
// checks (src/server/middleware/util/util.go SkipPolicyChecking): the pull of a cosign or
// notation signature, or a client whose token grants push on the repository and whose
// User-Agent contains "cosign" or "notation". Harbor also skips its scanner's own pulls,
// which the double has no account for.
func skipsPullPolicies(r *http.Request, route registryRoute, claims *tokenClaims,
	art *artifact) bool {
	if art.accessoryType == accessoryTypeCosignSignature ||
		art.accessoryType == accessoryTypeNotation {
		return true
	}
	agent := strings.ToLower(r.UserAgent())
	signer := strings.Contains(agent, "cosign") || strings.Contains(agent, "notation")
	return signer && claims.allows("repository", route.repository, "push")
}

// checkVulnerable applies vulnerability prevention as Harbor v2.13's
// src/server/middleware/vulnerable/vulnerable.go does. Indexes pass, because each child is
// checked when it is pulled by digest, and so do artifacts the scanner cannot scan.
// Findings whose CVE the project's allowlist in force names do not count, neither for the
// threshold nor in the message.
func (s *Server) checkVulnerable(art *artifact, severity string) *apiError {
	if art.isIndex() || !s.scannerUsable(art.repo.project) || !s.isScannable(art) {
		return nil
	}
	threshold := severityTitle(severity)
	policy := fmt.Sprintf(`'Prevent images with vulnerability severity of "%s" or higher `+
		`from running.'`, threshold)
	r := s.reports[reportKey{digest: art.digest, mime: MimeGenericReport}]
	if r == nil {
		return newAPIError(http.StatusPreconditionFailed, codePolicyViolation,
			"current image without vulnerability scanning cannot be pulled due to configured "+
				"policy in %s To continue with pull, please contact your project administrator "+
				"for help.", policy)
	}
	if status := r.state(s.clock.Now()).status; status != StatusSuccess {
		return newAPIError(http.StatusPreconditionFailed, codePolicyViolation,
			`current image with "%s" status of vulnerability scanning cannot be pulled due `+
				"to configured policy in %s To continue with pull, please contact your project "+
				"administrator for help.", status, policy)
	}
	allowlist, now := s.allowlistFor(art.repo.project), s.clock.Now()
	var found []Vulnerability
	for _, v := range dedupe(r.outcome.vulnerabilities) {
		if !allowlist.contains(v.ID, now) {
			found = append(found, v)
		}
	}
	worst := -1
	for _, v := range found {
		worst = max(worst, severityCode(v.Severity))
	}
	if len(found) == 0 || worst < severityCode(threshold) {
		return nil
	}
	noun := "vulnerabilities"
	if len(found) == 1 {
		noun = "vulnerability"
	}
	return newAPIError(http.StatusPreconditionFailed, codePolicyViolation,
		"current image with %d %s cannot be pulled due to configured policy in %s To "+
			"continue with pull, please contact your project administrator to exempt matched "+
			"vulnerabilities through configuring the CVE allowlist.", len(found), noun, policy)
}

// severityTitle returns the project severity as Harbor prints it, such as "High". An
// empty or unknown value parses to "Unknown", whose code 0 blocks on any finding.
func severityTitle(severity string) string {
	runes := []rune(strings.ToLower(severity))
	if len(runes) == 0 {
		return "Unknown"
	}
	runes[0] = unicode.ToUpper(runes[0])
	title := string(runes)
	if _, ok := severityCodes[title]; !ok {
		return "Unknown"
	}
	return title
}

// severityCode returns Harbor's ordering code of a severity; an unknown string ranks as
// the most severe, 99, as in Harbor.
func severityCode(severity string) int {
	if code, ok := severityCodes[severity]; ok {
		return code
	}
	return 99
}

// artifactByReference returns the artifact that a tag or digest names, or nil.
func (r *repository) artifactByReference(reference string) *artifact {
	if isDigest(reference) {
		return r.artifacts[reference]
	}
	if digest, ok := r.tags[reference]; ok {
		return r.artifacts[digest]
	}
	return nil
}

// hasCosignSignature reports whether the repository holds a signature.cosign accessory of
// the digest. Harbor checks only that such an accessory exists, not that it verifies.
func (r *repository) hasCosignSignature(digest string) bool {
	for _, a := range r.artifacts {
		if a.accessoryType == accessoryTypeCosignSignature && a.accessoryOf == digest {
			return true
		}
	}
	return false
}
