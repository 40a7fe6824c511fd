package harbortest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Surface is the part of Harbor that a request reaches.
type Surface string

// Surfaces a Fault can match.
const (
	// SurfaceAPI is the REST API under /api/v2.0/.
	SurfaceAPI Surface = "api"
	// SurfaceRegistry is the registry under /v2/.
	SurfaceRegistry Surface = "registry"
	// SurfaceToken is the token service at /service/token.
	SurfaceToken Surface = "token"
)

// Names under which Fired counts the scan faults, which are set with SetScanOutcome and
// SetScannerGone rather than armed.
const (
	// FaultScanOutcome counts scans whose outcome SetScanOutcome replaced.
	FaultScanOutcome = "scan-outcome"
	// FaultScannerGone counts scan requests, auto-scans included, that were rejected with
	// 400 because SetScannerGone(true) made the scanner unreachable.
	FaultScannerGone = "scanner-gone"
)

// Fault describes an injected failure of the requests it matches. Surface, Method and Path
// select the requests, Skip and Times select which of them fail, and Status, Reset,
// ResetAfterBytes and Delay set how. A Fault with only a Delay slows the requests down and
// then serves them normally.
type Fault struct {
	// Surface restricts the fault to one surface. Empty matches all three.
	Surface Surface
	// Method restricts the fault to one HTTP method, such as "PATCH". Empty matches all.
	Method string
	// Path is a regular expression that must match somewhere in the URL path, such as
	// `/blobs/uploads/`. The path is matched as the client sent it, so a repository name
	// in an API path is escaped twice ("a%252Fb"). Empty matches every path.
	Path string
	// Skip is the number of matching requests that pass before the fault fires. The
	// default is 0.
	Skip int
	// Times is the number of matching requests that fail after the skipped ones. The
	// default, 0, fails every later matching request until the fault is disarmed.
	Times int
	// Status is the HTTP status of the response, such as 503, with Harbor's error body.
	Status int
	// RetryAfter, when set, is sent as a Retry-After header in whole seconds, rounded up.
	// It needs Status.
	RetryAfter time.Duration
	// Reset closes the connection with a TCP reset instead of responding.
	Reset bool
	// ResetAfterBytes, when above 0, reads that many bytes of the request body, or the
	// whole body if it is shorter, and then resets the connection, as a proxy that fails
	// in the middle of an upload does.
	ResetAfterBytes int64
	// Delay is a wait before the request is failed or served. It ends early when the
	// client cancels the request, and the request is then not served.
	Delay time.Duration
	// AfterServing serves the request first and then replaces the response with Status or
	// a reset, so the request takes effect but the client never learns it did, as when a
	// proxy fails on the way back. It needs Status or Reset. The default fails the request
	// before it is served.
	AfterServing bool
}

// validate checks that the fault selects and does something consistent.
func (f Fault) validate() (*regexp.Regexp, error) {
	pattern, err := regexp.Compile(f.Path)
	if err != nil {
		return nil, fmt.Errorf("invalid path pattern %q: %w", f.Path, err)
	}
	switch f.Surface {
	case "", SurfaceAPI, SurfaceRegistry, SurfaceToken:
	default:
		return nil, fmt.Errorf("invalid surface %q: use %q, %q, %q or empty", f.Surface,
			SurfaceAPI, SurfaceRegistry, SurfaceToken)
	}
	actions := 0
	for _, set := range []bool{f.Status != 0, f.Reset, f.ResetAfterBytes > 0} {
		if set {
			actions++
		}
	}
	switch {
	case f.Skip < 0 || f.Times < 0 || f.Delay < 0 || f.RetryAfter < 0 || f.ResetAfterBytes < 0:
		return nil, errors.New("invalid fault: Skip, Times, Delay, RetryAfter and " +
			"ResetAfterBytes must not be negative")
	case actions > 1:
		return nil, errors.New("invalid fault: set only one of Status, Reset and ResetAfterBytes")
	case actions == 0 && f.Delay == 0:
		return nil, errors.New("invalid fault: set Status, Reset, ResetAfterBytes or Delay")
	case f.Status != 0 && (f.Status < 400 || f.Status > 599):
		return nil, fmt.Errorf("invalid fault status %d: use a 4xx or 5xx status", f.Status)
	case f.RetryAfter > 0 && f.Status == 0:
		return nil, errors.New("invalid fault: RetryAfter needs a Status, such as 429")
	case f.AfterServing && f.Status == 0 && !f.Reset:
		return nil, errors.New("invalid fault: AfterServing needs Status or Reset")
	}
	return pattern, nil
}

// armedFault is a Fault with its compiled pattern and its counters.
type armedFault struct {
	Fault
	name    string
	pattern *regexp.Regexp
	matched int // matching requests seen, skipped ones included
	fired   int
}

// Faults injects failures into a Server that New received it through WithFaults. Tests arm
// and disarm faults while the server runs, and read how often each one fired. A Faults is
// safe for concurrent use. Its zero value has no faults armed and is ready to use.
type Faults struct {
	mu          sync.Mutex
	armed       []*armedFault
	fired       map[string]int
	scanStatus  string
	scannerGone bool
}

// NewFaults returns a Faults with no faults armed.
func NewFaults() *Faults { return &Faults{} }

// WithFaults injects the faults that f holds, now and whenever they change while the server
// runs. By default the double injects none.
func WithFaults(f *Faults) Option {
	return func(c *config) {
		if f == nil {
			c.errs = append(c.errs, errors.New("invalid faults: nil"))
			return
		}
		c.faults = f
	}
}

// Arm adds a fault under name, which Fired and Disarm use. Faults are tried in the order
// they were armed, and the first one that fires on a request decides what happens to it.
// Arming a name again replaces that fault and resets its counters.
func (f *Faults) Arm(name string, fault Fault) error {
	if name == "" || name == FaultScanOutcome || name == FaultScannerGone {
		return fmt.Errorf("invalid fault name %q: use a non-empty name other than %q and %q",
			name, FaultScanOutcome, FaultScannerGone)
	}
	pattern, err := fault.validate()
	if err != nil {
		return fmt.Errorf("arming fault %q: %w", name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = slices.DeleteFunc(f.armed, func(a *armedFault) bool { return a.name == name })
	f.armed = append(f.armed, &armedFault{Fault: fault, name: name, pattern: pattern})
	delete(f.fired, name)
	return nil
}

// Disarm removes the fault armed under name. Its count stays readable through Fired.
func (f *Faults) Disarm(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = slices.DeleteFunc(f.armed, func(a *armedFault) bool { return a.name == name })
}

// DisarmAll removes every armed fault and clears SetScanOutcome and SetScannerGone.
func (f *Faults) DisarmAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = nil
	f.scanStatus = ""
	f.scannerGone = false
}

// Fired returns how often the named fault fired: failed or delayed requests for an armed
// fault, or the counts described at FaultScanOutcome and FaultScannerGone.
func (f *Faults) Fired(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired[name]
}

// FiredCounts returns a copy of every fault's count by name. Faults that never fired are
// missing.
func (f *Faults) FiredCounts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.fired)
}

// SetScanOutcome makes every scan triggered from now on end in status instead of the
// outcome the fixture gives: StatusError or StatusStopped end it after the fixture's
// timing, and StatusPending or StatusRunning keep it in that status forever. Scans already
// triggered keep their outcome. An empty status returns to the fixture.
func (f *Faults) SetScanOutcome(status string) error {
	switch status {
	case "", StatusPending, StatusRunning, StatusError, StatusStopped, StatusSuccess:
	default:
		return fmt.Errorf("invalid scan outcome %q: use %s, %s, %s, %s, %s or empty", status,
			StatusPending, StatusRunning, StatusSuccess, StatusError, StatusStopped)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scanStatus = status
	return nil
}

// SetScannerGone makes the registered scanner adapter unreachable, or reachable again, as
// Server.SetScannerReachable does: while it is gone, scan requests fail with 400 and scan
// overviews and vulnerabilities links vanish, also from artifacts scanned before.
func (f *Faults) SetScannerGone(gone bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scannerGone = gone
}

// applyScanOutcome replaces the fixture's final status of a scan being triggered.
func (f *Faults) applyScanOutcome(out scanOutcome) scanOutcome {
	if f == nil {
		return out
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.scanStatus == "" {
		return out
	}
	out.final = f.scanStatus
	if f.scanStatus != StatusSuccess {
		out.vulnerabilities = nil
	}
	f.count(FaultScanOutcome)
	return out
}

// isScannerGone reports whether SetScannerGone(true) is in force.
func (f *Faults) isScannerGone() bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.scannerGone
}

// countScannerGone counts one scan request rejected because the scanner is gone.
func (f *Faults) countScannerGone() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count(FaultScannerGone)
}

// count adds one to a fault's count. The caller holds f.mu.
func (f *Faults) count(name string) {
	if f.fired == nil {
		f.fired = map[string]int{}
	}
	f.fired[name]++
}

// surfaceOf returns the surface that serves path, or "" for paths that none serves.
func surfaceOf(path string) Surface {
	switch {
	case path == "/service/token":
		return SurfaceToken
	case path == "/v2" || strings.HasPrefix(path, "/v2/"):
		return SurfaceRegistry
	case strings.HasPrefix(path, apiPrefix+"/"):
		return SurfaceAPI
	}
	return ""
}

// pick returns a copy of the fault that fires on r, counting it, or false.
func (f *Faults) pick(r *http.Request) (Fault, bool) {
	surface := surfaceOf(r.URL.Path)
	path := r.URL.EscapedPath()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.armed {
		if (a.Surface != "" && a.Surface != surface) || (a.Method != "" && a.Method != r.Method) ||
			!a.pattern.MatchString(path) {
			continue
		}
		a.matched++
		if a.matched <= a.Skip || (a.Times > 0 && a.fired >= a.Times) {
			continue
		}
		a.fired++
		f.count(a.name)
		return a.Fault, true
	}
	return Fault{}, false
}

// inject applies the fault that fires on r, if any. It returns true when the fault has
// written the response or dropped the connection, so the server must not serve it again.
// serve is the server's handler, for faults that take effect after serving.
func (f *Faults) inject(w http.ResponseWriter, r *http.Request, serve http.HandlerFunc) bool {
	if f == nil {
		return false
	}
	fault, ok := f.pick(r)
	if !ok {
		return false
	}
	if fault.Delay > 0 {
		timer := time.NewTimer(fault.Delay)
		defer timer.Stop()
		select {
		case <-r.Context().Done():
			return true
		case <-timer.C:
		}
	}
	if fault.AfterServing {
		serve(newBufferedResponse(), r)
	}
	switch {
	case fault.Reset:
		resetConnection(w)
	case fault.ResetAfterBytes > 0:
		_, _ = io.CopyN(io.Discard, r.Body, fault.ResetAfterBytes)
		resetConnection(w)
	case fault.Status != 0:
		writeFaultStatus(w, fault)
	default:
		return false
	}
	return true
}

// writeFaultStatus writes the fault's status and Harbor's error body.
func writeFaultStatus(w http.ResponseWriter, fault Fault) {
	if fault.RetryAfter > 0 {
		seconds := (fault.RetryAfter + time.Second - 1) / time.Second
		w.Header().Set("Retry-After", strconv.FormatInt(int64(seconds), 10))
	}
	code := map[int]string{
		http.StatusBadRequest:      "BAD_REQUEST",
		http.StatusUnauthorized:    "UNAUTHORIZED",
		http.StatusForbidden:       "FORBIDDEN",
		http.StatusNotFound:        "NOT_FOUND",
		http.StatusConflict:        "CONFLICT",
		http.StatusTooManyRequests: "TOO_MANY_REQUEST",
	}[fault.Status]
	if code == "" {
		code = strings.ToUpper(strings.ReplaceAll(http.StatusText(fault.Status), " ", "_"))
	}
	writeError(w, newAPIError(fault.Status, code, "injected fault: %s",
		strings.ToLower(http.StatusText(fault.Status))))
}

// resetConnection takes the connection over from the HTTP server and closes it with a TCP
// reset (SO_LINGER 0), so the client reads ECONNRESET rather than a clean end of stream.
func resetConnection(w http.ResponseWriter) {
	hijacker, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hijacker.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	raw := conn
	if tlsConn, ok := conn.(*tls.Conn); ok {
		raw = tlsConn.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = raw.Close()
}
