package harbortest

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"time"
)

// Report MIME types that Harbor v2.13 accepts in X-Accept-Vulnerabilities.
const (
	// MimeGenericReport is the only report type that the Trivy adapter, and the double,
	// produces.
	MimeGenericReport = "application/vnd.security.vulnerability.report; version=1.1"
	// MimeNativeReport is Harbor's native report type, which Trivy never produces.
	MimeNativeReport = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
)

// scanOutcome is what the fixture decided for one scan.
type scanOutcome struct {
	pending         time.Duration
	running         time.Duration
	final           string
	vulnerabilities []Vulnerability
}

// reportKey identifies a report as Harbor does: by digest and MIME type, never by
// repository. The double has a single scanner registration, so the scanner is implied.
type reportKey struct {
	digest string
	mime   string
}

// report is one scan of one digest. Its status is computed on read from the trigger time,
// the fixture's durations and the clock.
type report struct {
	uuid      string
	digest    string
	triggered time.Time
	outcome   scanOutcome
	stopped   time.Time // when a stop request ended it, zero otherwise
}

type reportState struct {
	status string
	start  time.Time // zero while Pending
	end    time.Time // zero until final
}

func (r *report) state(now time.Time) reportState {
	started := r.triggered.Add(r.outcome.pending)
	finished := started.Add(r.outcome.running)
	if !r.stopped.IsZero() {
		st := reportState{status: StatusStopped, end: r.stopped}
		if !r.stopped.Before(started) && r.outcome.final != StatusPending {
			st.start = started
		}
		return st
	}
	if r.outcome.final == StatusPending || now.Before(started) {
		return reportState{status: StatusPending}
	}
	if r.outcome.final == StatusRunning || now.Before(finished) {
		return reportState{status: StatusRunning, start: started}
	}
	return reportState{status: r.outcome.final, start: started, end: finished}
}

func isFinal(status string) bool {
	return status == StatusSuccess || status == StatusError || status == StatusStopped
}

// scannerUsable reports whether the project has a scanner that answers. Harbor v2.13 pings
// the adapter before it uses a registration, so an unreachable one scans nothing.
func (s *Server) scannerUsable(p *project) bool {
	return s.scannerRegistered && s.scannerReachable && !s.faults.isScannerGone() &&
		!p.withoutScanner
}

// isScannable reports whether Trivy consumes the artifact: an image manifest that is not an
// accessory, or an index with at least one scannable child.
func (s *Server) isScannable(a *artifact) bool {
	if a.isIndex() {
		return len(s.scanTargets(a)) > 0
	}
	return isScannableImage(a)
}

func isScannableImage(a *artifact) bool {
	if a.accessoryType != "" || a.harborType() != "IMAGE" {
		return false
	}
	return a.mediaType == mediaTypeOCIManifest || a.mediaType == mediaTypeDockerManifest
}

// scanTargets returns the digests that a scan of the artifact scans: the artifact itself,
// or for an index its scannable children, skipping accessories and in-toto attestations.
func (s *Server) scanTargets(a *artifact) []*artifact {
	if !a.isIndex() {
		if isScannableImage(a) {
			return []*artifact{a}
		}
		return nil
	}
	var targets []*artifact
	for _, ref := range a.references {
		child := a.repo.artifacts[ref.digest]
		if child == nil || child.hasInToto || !isScannableImage(child) {
			continue
		}
		targets = append(targets, child)
	}
	return targets
}

// checkScannable returns the API error that a scan request for the artifact gets, or nil.
func (s *Server) checkScannable(a *artifact) *apiError {
	p := a.repo.project
	if !s.scannerRegistered || p.withoutScanner {
		return newAPIError(http.StatusPreconditionFailed, "PRECONDITION",
			"no available scanner for project: %d", p.id)
	}
	if s.faults.isScannerGone() {
		s.faults.countScannerGone()
	}
	if !s.scannerUsable(p) || !s.isScannable(a) {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"the configured scanner %s does not support scanning artifact with mime type %s",
			s.fixture.scannerInfo().Name, a.mediaType)
	}
	return nil
}

// triggerScan starts a scan of the artifact, or of each scannable child of an index, on
// behalf of operator. A target whose report is still Pending or Running conflicts; the
// request fails with 409 only when every target conflicts. A final report is deleted and
// replaced, after its webhooks were started. The caller holds s.mu.
func (s *Server) triggerScan(a *artifact, now time.Time, operator string) *apiError {
	if apiErr := s.checkScannable(a); apiErr != nil {
		return apiErr
	}
	s.announceScans(now)
	var conflict *apiError
	started := 0
	for _, target := range s.scanTargets(a) {
		key := reportKey{digest: target.digest, mime: MimeGenericReport}
		if old := s.reports[key]; old != nil {
			if status := old.state(now).status; !isFinal(status) {
				conflict = newAPIError(http.StatusConflict, "CONFLICT",
					"a previous scan process is %s", status)
				continue
			}
		}
		tags := target.tagNames()
		if target != a {
			tags = append(tags, a.tagNames()...)
		}
		r := &report{
			uuid:      newUUID(),
			digest:    target.digest,
			triggered: now,
			outcome: s.faults.applyScanOutcome(
				s.fixture.outcome(target.repo.name, target.digest, tags)),
		}
		s.reports[key] = r
		s.watchScan(r, target, webhookTag(a, target), operator)
		started++
	}
	if started == 0 {
		return conflict
	}
	s.stats.ScanTriggers++
	s.announceScans(now)
	s.armScanTimers(now)
	return nil
}

// webhookTag returns the tag that a scan event of target carries: the artifact's first tag,
// or none for a child of an index, whose scan task Harbor records without a tag.
func webhookTag(a, target *artifact) string {
	if target != a || len(a.tags) == 0 {
		return ""
	}
	return a.tags[0].name
}

// stopScan stops every Pending or Running report among the artifact's scan targets.
// The caller holds s.mu.
func (s *Server) stopScan(a *artifact, now time.Time) *apiError {
	found := false
	for _, target := range s.scanTargets(a) {
		r := s.reports[reportKey{digest: target.digest, mime: MimeGenericReport}]
		if r == nil {
			continue
		}
		found = true
		if !isFinal(r.state(now).status) {
			r.stopped = now
		}
	}
	if !found {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"no scan job for artifact digest=%s", a.digest)
	}
	s.announceScans(now)
	return nil
}

// autoScan scans a freshly pushed artifact when its project has auto_scan enabled, on
// behalf of the pusher. It runs in its own goroutine, as Harbor's push handler does, and
// drops errors as Harbor does apart from logging them.
func (s *Server) autoScan(a *artifact, pusher string) {
	defer s.autoScans.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	_ = s.triggerScan(a, s.clock.Now(), pusher)
}

// newUUID returns a random version 4 UUID, the form of Harbor's report ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
