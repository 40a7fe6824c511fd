package harbortest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// WithAnyWebhookTarget lets webhook deliveries connect to any host, resolving names and
// using the proxy from the environment as Harbor's jobservice does. By default the double
// delivers only to loopback targets: an IP literal in 127.0.0.0/8, ::1, or the name
// localhost. It resolves no other name, so a policy whose target is a production URL can
// be applied to a sandbox without reaching that URL, and it records such a delivery as a
// webhook job with status Error. Tests that serve their target on loopback need no option.
func WithAnyWebhookTarget() Option {
	return func(c *config) { c.webhookAnyTarget = true }
}

// WebhookJob is the record of one webhook delivery: one event for one target of a policy,
// as Harbor's webhook job (a task of the policy's execution) records it.
type WebhookJob struct {
	// PolicyID is the id of the webhook policy.
	PolicyID int64
	// EventType is the event, such as SCANNING_COMPLETED.
	EventType string
	// Address is the target's address.
	Address string
	// Status is Running while attempts remain, then Success or Error, Harbor's job
	// statuses.
	Status string
	// StatusMessage states why the last attempt failed, or why the double sent nothing.
	StatusMessage string
	// Attempts counts the POST requests sent, retries included.
	Attempts int
}

// WebhookJobs returns a copy of the record of every webhook delivery that the double has
// started, oldest first.
func (s *Server) WebhookJobs() []WebhookJob {
	w := s.sender
	w.mu.Lock()
	defer w.mu.Unlock()
	jobs := make([]WebhookJob, 0, len(w.jobs))
	for _, job := range w.jobs {
		jobs = append(jobs, *job)
	}
	return jobs
}

// errNotLoopback is wrapped by the errors of deliveries that the loopback restriction
// stopped.
var errNotLoopback = errors.New("the Harbor double delivers webhooks only to loopback " +
	"addresses (127.0.0.0/8, ::1, localhost)")

// checkTarget returns an error for an address that the sender would not connect to, so
// that such a delivery fails without an attempt and with a message that names the host.
func (w *webhookSender) checkTarget(address string) error {
	if w.anyTarget {
		return nil
	}
	u, err := url.Parse(address)
	if err != nil {
		return fmt.Errorf("not delivered: invalid target address %q: %w", address, err)
	}
	if !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("not delivered to %s: %w: host %q is none of them; "+
			"a test that serves the target elsewhere can set WithAnyWebhookTarget",
			address, errNotLoopback, u.Hostname())
	}
	return nil
}

// recordAttempt counts an attempt of the job and sets its status: Success after a
// delivered attempt, Error once no attempt remains, Running until then.
func (w *webhookSender) recordAttempt(job *WebhookJob, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	job.Attempts++
	switch {
	case err == nil:
		job.Status, job.StatusMessage = StatusSuccess, ""
	case job.Attempts == webhookMaxAttempts:
		job.Status, job.StatusMessage = StatusError, err.Error()
	default:
		job.StatusMessage = err.Error()
	}
}

func (w *webhookSender) finishJob(job *WebhookJob, status, message string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	job.Status, job.StatusMessage = status, message
}

// isLoopbackHost reports whether host is an IP literal in a loopback range or the name
// localhost, without resolving it.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// loopbackTransport returns a copy of base that connects only to loopback addresses, also
// after a redirect. It uses no proxy, which would carry the request to another host, and
// dials localhost as 127.0.0.1, then ::1, so that it resolves no name. The dialer checks
// the address of every socket before it connects, as a second guard.
func loopbackTransport(base *http.Transport) *http.Transport {
	t := base.Clone()
	t.Proxy = nil
	dialer := &net.Dialer{Timeout: webhookTimeout, Control: requireLoopbackSocket}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("dialing %s: %w", addr, err)
		}
		if !isLoopbackHost(host) {
			return nil, fmt.Errorf("dialing %s: %w", addr, errNotLoopback)
		}
		if !strings.EqualFold(host, "localhost") {
			return dialer.DialContext(ctx, network, addr)
		}
		conn, err := dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		if err == nil {
			return conn, nil
		}
		return dialer.DialContext(ctx, network, net.JoinHostPort("::1", port))
	}
	return t
}

// requireLoopbackSocket is a net.Dialer Control function: it stops a connection to any
// address outside the loopback ranges.
func requireLoopbackSocket(_, address string, _ syscall.RawConn) error {
	addrPort, err := netip.ParseAddrPort(address)
	if err != nil || !addrPort.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("connecting to %s: %w", address, errNotLoopback)
	}
	return nil
}
