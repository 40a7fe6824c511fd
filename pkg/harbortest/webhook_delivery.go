package harbortest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// Delivery limits of Harbor v2.13's jobservice: JOBSERVICE_WEBHOOK_JOB_MAX_RETRY defaults
// to 3 attempts in total and JOBSERVICE_WEBHOOK_JOB_HTTP_CLIENT_TIMEOUT to 3 seconds.
const (
	webhookMaxAttempts = 3
	webhookTimeout     = 3 * time.Second
)

// harborRetryDelay is the delay after the given number of failed attempts in Harbor's job
// queue, github.com/goharbor/work v0.5.1-patch worker.go: n⁴ + 15 + rand(0..29)·(n+1)
// seconds, about 16 to 74 seconds after the first failure.
func harborRetryDelay(failures int) time.Duration {
	n := failures
	return time.Duration(n*n*n*n+15+rand.IntN(30)*(n+1)) * time.Second
}

// afterClock is a Clock that can also signal when a duration has passed. The system clock
// and k8s.io/utils/clock/testing's FakeClock implement it. With such a clock the double
// announces a scan's end when it happens. With any other clock it announces the end on
// the next request that it serves.
type afterClock interface {
	After(d time.Duration) <-chan time.Time
}

// scanNotice is Harbor's record of one scan task, from which it builds the webhook event.
type scanNotice struct {
	project    *project
	repository string // "<project>/<repository>"
	digest     string
	tag        string // the artifact's tag when the scan started, empty for index children
	operator   string // who started the scan
	armed      bool   // whether a goroutine waits for the scan's end
}

// webhookSender delivers webhooks and tracks the deliveries in flight. Its fields are set
// in New and never change, apart from those guarded by mu.
type webhookSender struct {
	retryDelay func(failures int) time.Duration
	anyTarget  bool // whether targets other than loopback ones are delivered to
	client     *http.Client
	insecure   *http.Client // for targets with skip_cert_verify
	ctx        context.Context
	cancel     context.CancelFunc
	timers     sync.WaitGroup // goroutines that wait for a scan's end

	mu     sync.Mutex
	idle   *sync.Cond    // signalled when active drops to zero
	active int           // deliveries in flight, retries included
	jobs   []*WebhookJob // every delivery started, oldest first
}

// newWebhookSender returns a sender whose clients connect only to loopback addresses,
// unless anyTarget is set.
func newWebhookSender(retryDelay func(int) time.Duration, anyTarget bool) *webhookSender {
	base := http.DefaultTransport.(*http.Transport).Clone()
	if !anyTarget {
		base = loopbackTransport(base)
	}
	insecure := base.Clone()
	insecure.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // skip_cert_verify
	w := &webhookSender{
		retryDelay: retryDelay,
		anyTarget:  anyTarget,
		client:     &http.Client{Timeout: webhookTimeout, Transport: base},
		insecure:   &http.Client{Timeout: webhookTimeout, Transport: insecure},
	}
	w.idle = sync.NewCond(&w.mu)
	w.ctx, w.cancel = context.WithCancel(context.Background())
	return w
}

// WaitForWebhooks blocks until every webhook delivery that the double has started so far
// has ended, after its retries. A delivery starts when a request to the double, or with a
// clock that has After the end of the scan itself, finds a scan in a final status.
func (s *Server) WaitForWebhooks() {
	w := s.sender
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.active > 0 {
		w.idle.Wait()
	}
}

// watchScan records a new report for its webhook event. The caller holds s.mu.
func (s *Server) watchScan(r *report, target *artifact, tag, operator string) {
	s.webhooks.pending[r] = &scanNotice{
		project: target.repo.project, repository: target.repo.name,
		digest: target.digest, tag: tag, operator: operator,
	}
}

// announceScans starts the webhook deliveries of every watched report that has reached a
// final status. The caller holds s.mu.
func (s *Server) announceScans(now time.Time) {
	if s.closed {
		return
	}
	for r, notice := range s.webhooks.pending {
		st := r.state(now)
		if !isFinal(st.status) {
			continue
		}
		delete(s.webhooks.pending, r)
		eventType := scanEventTypes[st.status]
		for _, policy := range s.subscribedPolicies(notice.project, eventType) {
			for _, target := range policy.Targets {
				s.startDelivery(policy, target, s.scanPayload(r, notice, eventType, now))
			}
		}
	}
}

// scanEventTypes maps final scan statuses to event types, as Harbor v2.13
// src/controller/event/metadata/scan.go does.
var scanEventTypes = map[string]string{
	StatusSuccess: EventScanningCompleted,
	StatusError:   EventScanningFailed,
	StatusStopped: EventScanningStopped,
}

// armScanTimers starts a goroutine for each watched report that will end by itself in a
// project with an enabled policy, so that its webhook fires when the scan ends. It needs
// a clock with After. The caller holds s.mu.
func (s *Server) armScanTimers(now time.Time) {
	clock, ok := s.clock.(afterClock)
	if !ok || s.closed {
		return
	}
	for r, notice := range s.webhooks.pending {
		if notice.armed || !isFinal(r.outcome.final) || !r.stopped.IsZero() ||
			!s.hasEnabledPolicy(notice.project) {
			continue
		}
		notice.armed = true
		end := r.triggered.Add(r.outcome.pending + r.outcome.running)
		fired := clock.After(max(end.Sub(now), 0))
		s.sender.timers.Add(1)
		go s.awaitScanEnd(fired)
	}
}

func (s *Server) hasEnabledPolicy(p *project) bool {
	for _, policy := range s.webhookPoliciesOf(p) {
		if policy.Enabled {
			return true
		}
	}
	return false
}

func (s *Server) awaitScanEnd(fired <-chan time.Time) {
	defer s.sender.timers.Done()
	select {
	case <-fired:
	case <-s.sender.ctx.Done():
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.announceScans(s.clock.Now())
}

// announceDueScans announces the reports that ended since the last request. It lets a
// clock without After, such as a test clock that only moves when the test advances it,
// fire webhooks on the next request.
func (s *Server) announceDueScans() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.webhooks.pending) > 0 {
		s.announceScans(s.clock.Now())
	}
}

// webhookRequest is one formatted event for one target.
type webhookRequest struct {
	job            *WebhookJob // guarded by the sender's mu
	address        string
	authHeader     string
	skipCertVerify bool
	contentType    string
	body           []byte
}

// startDelivery formats the event for the target and sends it on its own goroutine, as
// Harbor's jobservice runs one job per target. The caller holds s.mu.
func (s *Server) startDelivery(policy *models.WebhookPolicy, target *models.WebhookTargetObject,
	payload *webhookPayload) {
	req := webhookRequest{
		address: target.Address, authHeader: target.AuthHeader,
		skipCertVerify: target.SkipCertVerify,
	}
	var err error
	if target.PayloadFormat == PayloadFormatCloudEvents {
		req.contentType = "application/cloudevents+json"
		req.body, err = cloudEventBody(policy, payload)
	} else {
		req.contentType = "application/json"
		req.body, err = jsonBody(payload)
	}
	if err != nil {
		// Harbor drops an event that fails to format, so the double does too.
		return
	}
	w := s.sender
	req.job = &WebhookJob{PolicyID: policy.ID, EventType: payload.Type,
		Address: target.Address, Status: StatusRunning}
	w.mu.Lock()
	w.active++
	w.jobs = append(w.jobs, req.job)
	w.mu.Unlock()
	go s.deliver(req)
}

// deliver posts the request up to webhookMaxAttempts times and waits the retry delay
// between attempts. Any 2xx status is a success. A target that is not on loopback, while
// the sender is restricted to loopback, is not contacted at all: its job fails at once,
// without retries, and counts as a failure but not as an attempt.
func (s *Server) deliver(req webhookRequest) {
	w := s.sender
	defer func() {
		w.mu.Lock()
		w.active--
		if w.active == 0 {
			w.idle.Broadcast()
		}
		w.mu.Unlock()
	}()
	if err := w.checkTarget(req.address); err != nil {
		w.finishJob(req.job, StatusError, err.Error())
		s.mu.Lock()
		s.stats.WebhookFailures++
		s.mu.Unlock()
		return
	}
	for attempt := 1; ; attempt++ {
		err := w.post(req)
		w.recordAttempt(req.job, err)
		s.mu.Lock()
		s.stats.WebhookAttempts++
		if err == nil {
			s.stats.WebhookDeliveries++
		} else if attempt == webhookMaxAttempts {
			s.stats.WebhookFailures++
		}
		s.mu.Unlock()
		if err == nil || attempt == webhookMaxAttempts {
			return
		}
		timer := time.NewTimer(w.retryDelay(attempt))
		select {
		case <-timer.C:
		case <-w.ctx.Done():
			timer.Stop()
			return
		}
	}
}

// post sends the request once. The error states why the attempt failed, for the job's
// status message, and never contains the auth header.
func (w *webhookSender) post(req webhookRequest) error {
	httpReq, err := http.NewRequestWithContext(w.ctx, http.MethodPost, req.address,
		bytes.NewReader(req.body))
	if err != nil {
		return fmt.Errorf("invalid target address %q: %w", req.address, err)
	}
	httpReq.Header.Set("Content-Type", req.contentType)
	if req.authHeader != "" {
		httpReq.Header.Set("Authorization", req.authHeader)
	}
	client := w.client
	if req.skipCertVerify {
		client = w.insecure
	}
	resp, err := client.Do(httpReq)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the target responded with HTTP %s", resp.Status)
	}
	return nil
}

// stopWebhooks cancels the deliveries and the goroutines that wait for scans, and waits
// for them to return. Close calls it after it has marked the server closed.
func (s *Server) stopWebhooks() {
	s.sender.cancel()
	s.sender.timers.Wait()
	s.WaitForWebhooks()
}
