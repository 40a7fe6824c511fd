package harbortest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// startFaultyServer starts a double with fresh Faults and returns both.
func startFaultyServer(t *testing.T, opts ...Option) (*Server, *Faults) {
	t.Helper()
	faults := NewFaults()
	return startServer(t, append([]Option{WithFaults(faults)}, opts...)...), faults
}

func armOrFail(t *testing.T, faults *Faults, name string, fault Fault) {
	t.Helper()
	if err := faults.Arm(name, fault); err != nil {
		t.Fatalf("Arm(%q) error = %v", name, err)
	}
}

func TestFaultsStatusBurst(t *testing.T) {
	srv, faults := startFaultyServer(t)
	armOrFail(t, faults, "ping-503", Fault{
		Surface: SurfaceAPI, Method: http.MethodGet, Path: "/ping$",
		Status: http.StatusServiceUnavailable, Times: 2,
	})
	var statuses []int
	for range 3 {
		status, _, body := rawGet(t, srv, "/api/v2.0/ping", "", "", nil)
		statuses = append(statuses, status)
		if status == http.StatusServiceUnavailable && !strings.Contains(string(body), "UNKNOWN") {
			t.Errorf("503 body = %s, want Harbor's UNKNOWN error", body)
		}
	}
	if diff := cmp.Diff([]int{503, 503, 200}, statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if got := faults.Fired("ping-503"); got != 2 {
		t.Errorf("Fired = %d, want 2", got)
	}
	status, _, _ := rawGet(t, srv, "/api/v2.0/systeminfo", "", "", nil)
	if status != http.StatusOK {
		t.Errorf("systeminfo status = %d, want 200: the fault matches only /ping", status)
	}
}

func TestFaultsTooManyRequests(t *testing.T) {
	srv, faults := startFaultyServer(t)
	armOrFail(t, faults, "throttle", Fault{
		Surface: SurfaceAPI, Status: http.StatusTooManyRequests, RetryAfter: 1500 * time.Millisecond,
	})
	status, header, body := rawGet(t, srv, "/api/v2.0/ping", "", "", nil)
	if status != http.StatusTooManyRequests {
		t.Errorf("status = %d, want 429", status)
	}
	if got := header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2 (1.5s rounded up)", got)
	}
	if !strings.Contains(string(body), "TOO_MANY_REQUEST") {
		t.Errorf("body = %s, want code TOO_MANY_REQUEST", body)
	}
	faults.Disarm("throttle")
	if status, _, _ := rawGet(t, srv, "/api/v2.0/ping", "", "", nil); status != http.StatusOK {
		t.Errorf("status after Disarm = %d, want 200", status)
	}
	if got := faults.Fired("throttle"); got != 1 {
		t.Errorf("Fired after Disarm = %d, want 1", got)
	}
}

func TestFaultsResetAndSkip(t *testing.T) {
	srv, faults := startFaultyServer(t)
	armOrFail(t, faults, "reset", Fault{Surface: SurfaceToken, Skip: 1, Times: 1, Reset: true})
	get := func() error {
		resp, err := srv.Client().Get(srv.URL() + "/service/token?service=harbor-registry")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(); err != nil {
		t.Fatalf("first token request, skipped by the fault: %v", err)
	}
	err := get()
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("second token request error = %v, want a connection reset", err)
	}
	if err := get(); err != nil {
		t.Errorf("third token request, after Times ran out: %v", err)
	}
	if got := faults.Fired("reset"); got != 1 {
		t.Errorf("Fired = %d, want 1", got)
	}
}

func TestFaultsDelayHonoursContext(t *testing.T) {
	srv, faults := startFaultyServer(t)
	armOrFail(t, faults, "slow", Fault{Surface: SurfaceAPI, Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL()+"/api/v2.0/ping", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = srv.Client().Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want the client's deadline", err)
	}
	// Close, run by the test cleanup, would hang if the handler still waited.
}

func TestFaultsUploadResetRetried(t *testing.T) {
	srv, faults := startFaultyServer(t)
	armOrFail(t, faults, "patch", Fault{
		Surface: SurfaceRegistry, Method: http.MethodPatch, Path: `/blobs/uploads/`,
		ResetAfterBytes: 100, Times: 1,
	})
	img, err := random.Image(4096, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := parseRef(t, srv, "demo/app:v1")
	if err := remote.Write(ref, img, remoteOptions(srv, robotAuth())...); err != nil {
		t.Fatalf("pushing through one reset upload: %v", err)
	}
	if got := faults.Fired("patch"); got != 1 {
		t.Errorf("Fired = %d, want 1", got)
	}
	if got := srv.Stats().ManifestPuts["demo/app"]; got != 1 {
		t.Errorf("manifest PUTs = %d, want 1", got)
	}
}

func TestFaultsScanOutcomeAndScannerGone(t *testing.T) {
	clock := newFakeClock()
	srv, faults := startFaultyServer(t, WithClock(clock))
	pushImage(t, srv, "demo/app:v1", robotAuth())
	client := apiClient(t, srv, robotLogin, robotSecret)

	if err := faults.SetScanOutcome(StatusError); err != nil {
		t.Fatal(err)
	}
	if err := triggerScan(client, "app", "v1"); err != nil {
		t.Fatalf("scan: %v", err)
	}
	clock.Advance(DefaultPending + DefaultRunning)
	summary, _ := overviewOf(t, getArtifact(t, client, "app", "v1", nil))
	if summary.ScanStatus != StatusError {
		t.Errorf("status = %s, want Error", summary.ScanStatus)
	}
	if got := faults.Fired(FaultScanOutcome); got != 1 {
		t.Errorf("Fired(%s) = %d, want 1", FaultScanOutcome, got)
	}

	faults.SetScannerGone(true)
	status, _, _ := rawPost(t, srv, "/api/v2.0/projects/demo/repositories/app/artifacts/v1/scan",
		robotLogin, robotSecret)
	if status != http.StatusBadRequest {
		t.Errorf("scan status while the scanner is gone = %d, want 400", status)
	}
	if _, ok := overviewOf(t, getArtifact(t, client, "app", "v1", nil)); ok {
		t.Errorf("overview present while the scanner is gone, want it to vanish")
	}
	if got := faults.Fired(FaultScannerGone); got != 1 {
		t.Errorf("Fired(%s) = %d, want 1", FaultScannerGone, got)
	}
	faults.DisarmAll()
	if _, ok := overviewOf(t, getArtifact(t, client, "app", "v1", nil)); !ok {
		t.Errorf("overview missing after DisarmAll, want it back")
	}
}

func TestFaultsAfterServingTakesEffect(t *testing.T) {
	clock := newFakeClock()
	srv, faults := startFaultyServer(t, WithClock(clock))
	pushImage(t, srv, "demo/app:v1", robotAuth())
	armOrFail(t, faults, "lost-response", Fault{
		Surface: SurfaceAPI, Method: http.MethodPost, Path: `/scan$`,
		Status: http.StatusInternalServerError, AfterServing: true, Times: 1,
	})
	path := "/api/v2.0/projects/demo/repositories/app/artifacts/v1/scan"
	if status, _, _ := rawPost(t, srv, path, robotLogin, robotSecret); status != 500 {
		t.Errorf("first scan request status = %d, want the injected 500", status)
	}
	if status, _, _ := rawPost(t, srv, path, robotLogin, robotSecret); status != 409 {
		t.Errorf("second scan request status = %d, want 409: the first one started a scan",
			status)
	}
	if got := srv.Stats().ScanTriggers; got != 1 {
		t.Errorf("ScanTriggers = %d, want 1", got)
	}
}

func TestFaultsArmRejectsInvalid(t *testing.T) {
	tests := []struct {
		name      string
		faultName string
		fault     Fault
	}{
		{name: "empty name", fault: Fault{Status: 500}},
		{name: "reserved name", faultName: FaultScannerGone, fault: Fault{Status: 500}},
		{name: "no action", faultName: "f"},
		{name: "two actions", faultName: "f", fault: Fault{Status: 500, Reset: true}},
		{name: "bad pattern", faultName: "f", fault: Fault{Path: "(", Status: 500}},
		{name: "bad surface", faultName: "f", fault: Fault{Surface: "ui", Status: 500}},
		{name: "success status", faultName: "f", fault: Fault{Status: 200}},
		{name: "retry-after alone", faultName: "f", fault: Fault{RetryAfter: time.Second,
			Delay: time.Second}},
		{name: "negative times", faultName: "f", fault: Fault{Times: -1, Status: 500}},
		{name: "after serving alone", faultName: "f", fault: Fault{AfterServing: true,
			Delay: time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := NewFaults().Arm(tc.faultName, tc.fault); err == nil {
				t.Errorf("Arm(%q, %+v) error = nil, want an error", tc.faultName, tc.fault)
			}
		})
	}
	if err := NewFaults().SetScanOutcome("Done"); err == nil {
		t.Errorf("SetScanOutcome(Done) error = nil, want an error")
	}
	if _, err := New(WithFaults(nil)); err == nil {
		t.Errorf("New(WithFaults(nil)) error = nil, want an error")
	}
}
