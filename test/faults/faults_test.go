package faults

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/druppie/harbor-gate/internal/cli"
	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// fault is the name every case arms its fault under.
const fault = "fault"

// faultCase is one injected fault and what publish must do under it.
type faultCase struct {
	name string
	// arm injects the fault before the run.
	arm func(t *testing.T, f *harbortest.Faults)
	// counter is the name Fired counts the fault under; the default is fault.
	counter string
	// noAutoScan turns scan on push off, so that publish requests the scan itself.
	noAutoScan bool
	// immutableTags, when set, adds an immutable tag rule for the tags matching this
	// pattern in every repository of the project.
	immutableTags string
	// scanTimeout is publish's --timeout; the default is 20s.
	scanTimeout time.Duration
	wantExit    int
	// wantStderr must appear in the run's standard error.
	wantStderr string
	// wantFired bounds how often the fault fired.
	wantFiredMin, wantFiredMax int
	// wantImagePuts and wantSignaturePuts are the successful manifest PUTs of the image's
	// tag and of signature tags. When wantSignaturePuts is above 0, the image must carry
	// exactly one valid signature.
	wantImagePuts, wantSignaturePuts int
	// wantRejectedImagePuts is the number of manifest PUTs of the image's tag that an
	// immutable tag rule rejected.
	wantRejectedImagePuts int
	// wantScanTriggers is the largest number of scans started; the default is 1.
	wantScanTriggers int
}

// arm returns an arm function that arms f under the name fault.
func arm(f harbortest.Fault) func(*testing.T, *harbortest.Faults) {
	return func(t *testing.T, faults *harbortest.Faults) {
		t.Helper()
		if err := faults.Arm(fault, f); err != nil {
			t.Fatalf("arming %+v: %v", f, err)
		}
	}
}

// scanOutcome returns an arm function that sets every scan's outcome.
func scanOutcome(status string) func(*testing.T, *harbortest.Faults) {
	return func(t *testing.T, faults *harbortest.Faults) {
		t.Helper()
		if err := faults.SetScanOutcome(status); err != nil {
			t.Fatal(err)
		}
	}
}

// maxRunTime bounds every run: the slowest cases wait for go-containerregistry's retries
// (1s and 3s) or for a 1s Retry-After.
const maxRunTime = 25 * time.Second

var faultCases = []faultCase{
	{
		name: "API 503 burst is retried",
		arm: arm(harbortest.Fault{Surface: harbortest.SurfaceAPI, Path: "/ping$",
			Status: http.StatusServiceUnavailable, Times: 2}),
		wantExit: cli.ExitPass, wantFiredMin: 2, wantFiredMax: 2,
		wantImagePuts: 1, wantSignaturePuts: 1,
	},
	{
		name: "API 502 on every ping ends the run",
		arm: arm(harbortest.Fault{Surface: harbortest.SurfaceAPI, Path: "/ping$",
			Status: http.StatusBadGateway}),
		wantExit: cli.ExitError, wantStderr: "HTTP 502",
		wantFiredMin: 4, wantFiredMax: 4,
	},
	{
		name: "API 429 with Retry-After is retried",
		arm: arm(harbortest.Fault{Surface: harbortest.SurfaceAPI, Path: "/systeminfo$",
			Status: http.StatusTooManyRequests, RetryAfter: time.Second, Times: 1}),
		wantExit: cli.ExitPass, wantFiredMin: 1, wantFiredMax: 1,
		wantImagePuts: 1, wantSignaturePuts: 1,
	},
	{
		name: "API 429 with a long Retry-After ends the run",
		arm: arm(harbortest.Fault{Surface: harbortest.SurfaceAPI, Path: "/systeminfo$",
			Status: http.StatusTooManyRequests, RetryAfter: time.Minute}),
		wantExit: cli.ExitError, wantStderr: "Retry-After 1m0s",
		wantFiredMin: 1, wantFiredMax: 1,
	},
	{
		name: "API 401 is not retried",
		arm: arm(harbortest.Fault{Surface: harbortest.SurfaceAPI, Path: "/artifacts$",
			Status: http.StatusUnauthorized}),
		wantExit: cli.ExitError, wantStderr: "HTTP 401",
		wantFiredMin: 1, wantFiredMax: 1,
	},
	{
		name: "API reset on the artifact read is retried",
		arm: arm(harbortest.Fault{Surface: harbortest.SurfaceAPI, Method: http.MethodGet,
			Path: "/artifacts/sha256:", Reset: true, Times: 2}),
		wantExit: cli.ExitPass, wantFiredMin: 2, wantFiredMax: 2,
		wantImagePuts: 1, wantSignaturePuts: 1,
	},
	{
		name: "slow API responses still pass",
		arm: arm(harbortest.Fault{Surface: harbortest.SurfaceAPI,
			Delay: 200 * time.Millisecond}),
		wantExit: cli.ExitPass, wantFiredMin: 5, wantFiredMax: 100,
		wantImagePuts: 1, wantSignaturePuts: 1,
	},
	{
		name: "API 503 on every artifact read times out the scan",
		arm: arm(harbortest.Fault{Surface: harbortest.SurfaceAPI, Method: http.MethodGet,
			Path: "/artifacts/sha256:", Status: http.StatusServiceUnavailable, Skip: 1}),
		scanTimeout: 2 * time.Second,
		wantExit:    cli.ExitScan, wantStderr: "TimedOut",
		wantFiredMin: 4, wantFiredMax: 200,
		wantImagePuts: 1, wantSignaturePuts: 1,
	},
	{
		name:        "scan stuck in Pending times out",
		arm:         scanOutcome(harbortest.StatusPending),
		counter:     harbortest.FaultScanOutcome,
		scanTimeout: time.Second,
		wantExit:    cli.ExitScan, wantStderr: "TimedOut",
		wantFiredMin: 1, wantFiredMax: 1,
		wantImagePuts: 1, wantSignaturePuts: 1,
	},
	{
		name:     "scan ending in Error fails",
		arm:      scanOutcome(harbortest.StatusError),
		counter:  harbortest.FaultScanOutcome,
		wantExit: cli.ExitScan, wantStderr: "ScanFailed",
		wantFiredMin: 1, wantFiredMax: 1,
		wantImagePuts: 1, wantSignaturePuts: 1,
	},
	{
		name: "scanner gone is not scannable",
		arm: func(_ *testing.T, f *harbortest.Faults) {
			f.SetScannerGone(true)
		},
		counter:  harbortest.FaultScannerGone,
		wantExit: cli.ExitScan, wantStderr: "NotScannable",
		// Scan on push tries the image and its signature, and both are rejected.
		wantFiredMin: 2, wantFiredMax: 2,
		wantImagePuts: 1, wantSignaturePuts: 1,
	},
	{
		name: "token service 500 burst is retried",
		arm: arm(harbortest.Fault{Surface: harbortest.SurfaceToken,
			Status: http.StatusInternalServerError, Times: 2}),
		wantExit: cli.ExitPass, wantFiredMin: 2, wantFiredMax: 2,
		wantImagePuts: 1, wantSignaturePuts: 1,
	},
	{
		name: "token service 401 ends the run",
		arm: arm(harbortest.Fault{Surface: harbortest.SurfaceToken,
			Status: http.StatusUnauthorized}),
		wantExit: cli.ExitError, wantStderr: "401",
		wantFiredMin: 1, wantFiredMax: 3,
	},
	{
		name: "blob upload reset mid-body is retried",
		arm: arm(harbortest.Fault{Surface: harbortest.SurfaceRegistry,
			Method: http.MethodPatch, Path: "/blobs/uploads/", ResetAfterBytes: 1024,
			Times: 1}),
		wantExit: cli.ExitPass, wantFiredMin: 1, wantFiredMax: 1,
		wantImagePuts: 1, wantSignaturePuts: 1,
	},
	{
		name: "blob upload commit 500 is retried",
		arm: arm(harbortest.Fault{Surface: harbortest.SurfaceRegistry,
			Method: http.MethodPut, Path: "/blobs/uploads/",
			Status: http.StatusInternalServerError, Times: 1}),
		wantExit: cli.ExitPass, wantFiredMin: 1, wantFiredMax: 1,
		wantImagePuts: 1, wantSignaturePuts: 1,
	},
	{
		name: "blob upload 503 on every attempt ends the run",
		arm: arm(harbortest.Fault{Surface: harbortest.SurfaceRegistry,
			Method: http.MethodPatch, Path: "/blobs/uploads/",
			Status: http.StatusServiceUnavailable}),
		wantExit: cli.ExitError, wantStderr: "503",
		wantFiredMin: 3, wantFiredMax: 9,
	},
	{
		name: "signature push 503 once is retried",
		arm: arm(harbortest.Fault{Surface: harbortest.SurfaceRegistry,
			Method: http.MethodPut, Path: `/manifests/sha256-[0-9a-f]{64}\.sig$`,
			Status: http.StatusServiceUnavailable, Times: 1}),
		wantExit: cli.ExitPass, wantFiredMin: 1, wantFiredMax: 1,
		wantImagePuts: 1, wantSignaturePuts: 1,
	},
	{
		name: "signature push reset after it was stored",
		arm: arm(harbortest.Fault{Surface: harbortest.SurfaceRegistry,
			Method: http.MethodPut, Path: `/manifests/sha256-[0-9a-f]{64}\.sig$`,
			Reset: true, AfterServing: true, Times: 1}),
		// go-containerregistry sends the same signature manifest again: a second PUT of
		// identical bytes, which adds no second signature.
		wantExit: cli.ExitPass, wantFiredMin: 1, wantFiredMax: 1,
		wantImagePuts: 1, wantSignaturePuts: 2,
	},
	{
		name: "image manifest push reset after it was stored",
		arm: arm(harbortest.Fault{Surface: harbortest.SurfaceRegistry,
			Method: http.MethodPut, Path: `/manifests/build-1$`,
			Reset: true, AfterServing: true, Times: 1}),
		// go-containerregistry sends the same manifest again. Harbor records a second push
		// of the same digest, and its scan on push scans it again.
		wantExit: cli.ExitPass, wantFiredMin: 1, wantFiredMax: 1,
		wantImagePuts: 2, wantSignaturePuts: 1, wantScanTriggers: 2,
	},
	{
		name: "image manifest push reset after it was stored, under an immutable tag",
		arm: arm(harbortest.Fault{Surface: harbortest.SurfaceRegistry,
			Method: http.MethodPut, Path: `/manifests/build-1$`,
			Reset: true, AfterServing: true, Times: 1}),
		immutableTags: "build-*",
		// go-containerregistry sends the same manifest again and the immutable tag rule
		// rejects it with 412. Harbor's API shows the tag at the pushed digest, so the run
		// goes on with the image stored once.
		wantExit: cli.ExitPass, wantFiredMin: 1, wantFiredMax: 1,
		wantImagePuts: 1, wantRejectedImagePuts: 1, wantSignaturePuts: 1,
	},
	{
		name: "scan request answered 500 after it started a scan",
		arm: func(t *testing.T, f *harbortest.Faults) {
			arm(harbortest.Fault{Surface: harbortest.SurfaceAPI, Method: http.MethodPost,
				Path: "/scan$", Status: http.StatusInternalServerError, AfterServing: true,
				Times: 1})(t, f)
			scanOutcome(harbortest.StatusPending)(t, f)
		},
		noAutoScan:  true,
		scanTimeout: 2 * time.Second,
		wantExit:    cli.ExitScan, wantStderr: "TimedOut",
		wantFiredMin: 1, wantFiredMax: 1,
		wantImagePuts: 1, wantSignaturePuts: 1,
	},
}

func TestPublishUnderFaults(t *testing.T) {
	for _, tc := range faultCases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, !tc.noAutoScan)
			if tc.immutableTags != "" {
				if _, err := e.srv.AddImmutableRule(project, tc.immutableTags, "**"); err != nil {
					t.Fatalf("adding the immutable tag rule: %v", err)
				}
			}
			tc.arm(t, e.faults)
			scanTimeout := tc.scanTimeout
			if scanTimeout == 0 {
				scanTimeout = 20 * time.Second
			}
			got := publish(t, maxRunTime+5*time.Second, e.args(scanTimeout))
			checkOutcome(t, tc, e, got)
		})
	}
}

// checkOutcome compares a run with what the case expects.
func checkOutcome(t *testing.T, tc faultCase, e *env, got outcome) {
	t.Helper()
	if got.exit != tc.wantExit {
		t.Errorf("exit code = %d, want %d\nstderr:\n%s", got.exit, tc.wantExit, got.stderr)
	}
	if tc.wantExit != cli.ExitPass && strings.Contains(got.stdout+got.stderr, "PASS") {
		t.Errorf("output reports PASS, want no PASS under this fault:\n%s", got.stderr)
	}
	if !strings.Contains(got.stderr, tc.wantStderr) {
		t.Errorf("stderr does not contain %q:\n%s", tc.wantStderr, got.stderr)
	}
	if got.duration > maxRunTime {
		t.Errorf("run took %s, want at most %s", got.duration, maxRunTime)
	}
	fired := checkRequests(t, tc, e)
	t.Logf("exit %d after %s, fault fired %d times, stats %+v", got.exit,
		got.duration.Round(time.Millisecond), fired, e.srv.Stats())
}

// checkRequests compares the fault's count, the manifest PUTs, the signatures and the scans
// with what the case expects, and returns the fault's count.
func checkRequests(t *testing.T, tc faultCase, e *env) int {
	t.Helper()
	counter := tc.counter
	if counter == "" {
		counter = fault
	}
	fired := e.faults.Fired(counter)
	if fired < tc.wantFiredMin || fired > tc.wantFiredMax {
		t.Errorf("fault fired %d times, want %d to %d", fired, tc.wantFiredMin, tc.wantFiredMax)
	}
	if n := imagePuts(e.srv); n != tc.wantImagePuts {
		t.Errorf("image manifest PUTs = %d, want %d", n, tc.wantImagePuts)
	}
	if n := rejectedImagePuts(e.srv); n != tc.wantRejectedImagePuts {
		t.Errorf("image manifest PUTs rejected with 412 = %d, want %d", n,
			tc.wantRejectedImagePuts)
	}
	if n := signaturePuts(e.srv); n != tc.wantSignaturePuts {
		t.Errorf("signature manifest PUTs = %d, want %d", n, tc.wantSignaturePuts)
	}
	if tc.wantSignaturePuts > 0 {
		if n := e.signatures(t); n != 1 {
			t.Errorf("valid signatures of the image = %d, want 1", n)
		}
	}
	wantTriggers := max(tc.wantScanTriggers, 1)
	if triggers := e.srv.Stats().ScanTriggers; triggers > wantTriggers {
		t.Errorf("scan triggers = %d, want at most %d", triggers, wantTriggers)
	}
	return fired
}
