//go:build integration

package integration

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"

	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/harbortest"
	"github.com/druppie/harbor-gate/pkg/policy"
	"github.com/druppie/harbor-gate/pkg/reconciler/imagegate"
)

// cosignSignatureType is the type of the accessory Harbor records for a cosign signature.
const cosignSignatureType = "signature.cosign"

// envKnownBugs, set to "1", runs the cases that fail because of a known controller bug.
const envKnownBugs = "HARBOR_GATE_ITEST_KNOWN_BUGS"

// restartSetup is what a restart case needs to hold its run in a phase: the proxies in
// front of the double and of the Kubernetes API, and the run's repository and namespace.
type restartSetup struct {
	harborProxy *holdingProxy
	kubeProxy   *holdingProxy
	// repository is "<project>/<repository>" of the run's target.
	repository string
	namespace  string
}

// Each case kills the controller process with SIGKILL while a run is in one phase, starts
// a new process, and checks that the run ends with its verdict after exactly one push and
// one signature. A case either holds a request of the phase at a proxy until the kill, or
// waits for a phase that lasts long enough by itself.
//
// "Reporting" is the status update that marks the CustomRun done and carries its results,
// because that update is how the verdict reaches Tekton. The verdict relay to a core sink
// is not covered, because the tier leaves core-sink-url empty.
func TestControllerKilledInEachPhase(t *testing.T) {
	tests := []struct {
		name string
		// repo is the prefix of the target repository, which selects the scan outcome.
		repo string
		// phase is the phase the CustomRun status records when the controller is killed.
		phase gate.Phase
		// hold adds the proxy rule that keeps the run in the phase. A nil hold waits for a
		// scan that Harbor reports as Pending or Running.
		hold        func(s restartSetup) *holdRule
		wantReason  string
		wantVerdict policy.Result
		wantCounts  map[string]int64
		// knownBug, when set, describes a controller bug that fails the case. The case
		// then runs only when envKnownBugs is "1", so that the tier stays green.
		knownBug string
	}{{
		name:  "pushing",
		repo:  repoClean,
		phase: gate.PhasePush,
		hold: func(s restartSetup) *holdRule {
			return s.harborProxy.hold("the first blob upload", blobUploadStart(s.repository))
		},
		wantReason:  imagegate.ReasonPassed,
		wantVerdict: policy.Pass,
		wantCounts:  map[string]int64{},
	}, {
		name:  "signing",
		repo:  repoVulnerable,
		phase: gate.PhaseSign,
		hold: func(s restartSetup) *holdRule {
			return s.harborProxy.hold("the signature manifest PUT",
				signatureManifestPut(s.repository))
		},
		wantReason:  imagegate.ReasonPolicyViolation,
		wantVerdict: policy.Fail,
		wantCounts:  map[string]int64{"Critical": 1, "Low": 1},
	}, {
		// The manifest PUT succeeded, but the status still records Push.
		name:  "pushed before the state was stored",
		repo:  repoClean,
		phase: gate.PhasePush,
		hold: func(s restartSetup) *holdRule {
			return s.harborProxy.hold("the artifact read after the image manifest PUT",
				after(imageManifestPut(s.repository, "build-1"), artifactRead(s.repository)))
		},
		wantReason:  imagegate.ReasonPassed,
		wantVerdict: policy.Pass,
		wantCounts:  map[string]int64{},
	}, {
		// The signature manifest PUT succeeded, but the status still records Sign.
		name:  "signed before the state was stored",
		repo:  repoVulnerable,
		phase: gate.PhaseSign,
		hold: func(s restartSetup) *holdRule {
			return s.harborProxy.hold("the signature read after its manifest PUT",
				after(signatureManifestPut(s.repository),
					signatureManifestRead(s.repository)))
		},
		wantReason:  imagegate.ReasonPolicyViolation,
		wantVerdict: policy.Fail,
		wantCounts:  map[string]int64{"Critical": 1, "Low": 1},
	}, {
		name:        "scanning",
		repo:        repoSlow,
		phase:       gate.PhaseScan,
		wantReason:  imagegate.ReasonPolicyViolation,
		wantVerdict: policy.Fail,
		wantCounts:  map[string]int64{"Critical": 1},
	}, {
		name:  "reporting",
		repo:  repoClean,
		phase: gate.PhaseScan,
		hold: func(s restartSetup) *holdRule {
			return s.kubeProxy.hold("the status update that marks the run done",
				finishingStatusUpdate(s.namespace))
		},
		wantReason:  imagegate.ReasonPassed,
		wantVerdict: policy.Pass,
		wantCounts:  map[string]int64{},
	}}

	if tier == nil {
		t.Skipf("integration tier not started: %s", skipReason)
	}
	// Only the controller processes of this test may reconcile its runs.
	stopInProcessGate(t)
	tokenFile := writeGateToken(t, tier)
	kubeTransport, err := rest.TransportFor(rest.AnonymousClientConfig(tier.admin))
	if err != nil {
		t.Fatalf("creating the transport to kube-apiserver: %v", err)
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.knownBug != "" && os.Getenv(envKnownBugs) != "1" {
				t.Skipf("known bug: %s; set %s=1 to run this case", tc.knownBug, envKnownBugs)
			}
			e := newTestEnv(t)
			dumpGateProcessLog(t, e.c)
			s := restartSetup{
				harborProxy: newRegistryProxy(t, e.c.harbor.srv.URL()),
				kubeProxy:   newHoldingProxy(t, e.c.admin.Host, kubeTransport),
				repository:  e.repository(tc.repo),
				namespace:   e.ns,
			}
			e.createSecrets()
			e.createImageGateFor(s.harborProxy.URL())
			e.createPipeline(0)
			var rule *holdRule
			if tc.hold != nil {
				rule = tc.hold(s)
			}

			controller := startGateProcess(t, e.c, s.kubeProxy.URL(), tokenFile)
			target := s.harborProxy.Host() + "/" + s.repository + ":build-1"
			pr := e.runPipeline(target)
			e.waitInPhase(pr, tc.phase, rule)
			if err := controller.kill(); err != nil {
				t.Fatal(err)
			}
			e.checkKilledInPhase(pr, tc.phase, rule)
			startGateProcess(t, e.c, s.kubeProxy.URL(), tokenFile)

			run := e.waitCustomRun(pr, "done", isDone)
			cond := succeeded(run)
			if cond.Status != corev1.ConditionTrue || cond.Reason != tc.wantReason {
				t.Fatalf("CustomRun condition = %s/%s (%s), want True/%s", cond.Status,
					cond.Reason, cond.Message, tc.wantReason)
			}
			got := results(run)
			if got[gate.ResultVerdict] != string(tc.wantVerdict) {
				t.Errorf("result %s = %q, want %q", gate.ResultVerdict,
					got[gate.ResultVerdict], tc.wantVerdict)
			}
			if diff := cmp.Diff(tc.wantCounts, counts(t, got)); diff != "" {
				t.Errorf("result %s (-want +got):\n%s", gate.ResultCounts, diff)
			}
			digest := got[gate.ResultImageDigest]
			if !strings.HasSuffix(e.source, "@"+digest) {
				t.Errorf("result %s = %q, want the source's digest in %s",
					gate.ResultImageDigest, digest, e.source)
			}
			e.checkOnePushOneSignature(tc.repo, digest)
		})
	}
}

// stopInProcessGate stops the tier's in-process controller and starts it again when the
// test ends.
func stopInProcessGate(t *testing.T) {
	t.Helper()
	if err := tier.stopGate(); err != nil {
		t.Fatalf("stopping the in-process harbor-gate controller: %v", err)
	}
	t.Cleanup(func() {
		if err := tier.startGate(); err != nil {
			t.Errorf("starting the in-process harbor-gate controller again: %v", err)
		}
	})
}

// dumpGateProcessLog logs what the controller processes wrote during the test, if it
// fails. The tier's own log dump does not include them.
func dumpGateProcessLog(t *testing.T, c *cluster) {
	path := c.logPath(gateProcessLogName)
	mark := fileSize(path)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("===== %s log =====\n%s", gateProcessLogName,
				logTail(path, mark, logDumpLimit))
		}
	})
}

// waitInPhase waits until the run is in phase: until rule holds its request, or, without
// a rule, until Harbor's scan runs. It then checks that the status records phase. A run
// that finishes first fails the test at once.
func (e *testEnv) waitInPhase(pr string, phase gate.Phase, rule *holdRule) {
	e.t.Helper()
	what, inPhase := "scan running", e.isScanning
	if rule != nil {
		what = "held at the proxy: " + rule.what
		inPhase = func(*v1beta1.CustomRun) bool { return rule.hasArrived() }
	}
	e.waitCustomRun(pr, what+", or done", func(run *v1beta1.CustomRun) bool {
		return run.IsDone() || inPhase(run)
	})
	e.checkPhase(pr, phase)
}

// checkKilledInPhase checks that the killed controller left the run in phase, and that the
// held request, if any, was never forwarded.
func (e *testEnv) checkKilledInPhase(pr string, phase gate.Phase, rule *holdRule) {
	e.t.Helper()
	if rule != nil {
		select {
		case <-rule.dropped:
		case <-time.After(runTimeout):
			e.t.Fatalf("the proxy still holds %s %s after the kill", rule.what, runTimeout)
		}
	}
	e.checkPhase(pr, phase)
}

// checkPhase checks that the run is not done and that its status records phase.
func (e *testEnv) checkPhase(pr string, phase gate.Phase) {
	e.t.Helper()
	run, err := e.customRun(e.ctx, pr)
	if err != nil || run == nil {
		e.t.Fatalf("reading the CustomRun of %s: %v", pr, err)
	}
	if run.IsDone() {
		e.t.Fatalf("the CustomRun finished before the kill, so the restart proves "+
			"nothing: %+v", succeeded(run))
	}
	fields, err := gateState(run)
	if err != nil {
		e.t.Fatalf("decoding the CustomRun's status.extraFields: %v", err)
	}
	if fields.State.Phase != phase {
		e.t.Fatalf("CustomRun phase = %q, want %q", fields.State.Phase, phase)
	}
}

// checkOnePushOneSignature checks, in the double's registry request log and artifact API,
// that the repository with prefix received the image and its signature exactly once.
func (e *testEnv) checkOnePushOneSignature(prefix, digest string) {
	e.t.Helper()
	repository := e.repository(prefix)
	puts := map[string]int{}
	for _, r := range e.c.harbor.srv.RegistryRequests() {
		if r.Repository == repository && r.Kind == "manifests" &&
			r.Method == http.MethodPut && r.Status == http.StatusCreated {
			puts[r.Reference]++
		}
	}
	wantPuts := map[string]int{"build-1": 1, signatureTag(digest): 1}
	if diff := cmp.Diff(wantPuts, puts); diff != "" {
		e.t.Errorf("accepted manifest PUTs to %s by reference (-want +got):\n%s", repository,
			diff)
	}

	client, err := harbor.NewClient(harbor.Config{URL: e.c.harbor.srv.URL(),
		Username: harbortest.RobotName(targetProject, robotName),
		Password: e.c.harbor.robotSecret})
	if err != nil {
		e.t.Fatal(err)
	}
	artifact, err := client.Artifact(e.ctx, harbor.ArtifactRef{Project: targetProject,
		Repository: strings.TrimPrefix(repository, targetProject+"/"), Digest: digest})
	if err != nil {
		e.t.Fatalf("reading the artifact %s@%s from the double: %v", repository, digest, err)
	}
	signatures := 0
	for _, accessory := range artifact.Accessories {
		if accessory.Type == cosignSignatureType {
			signatures++
		}
	}
	if signatures != 1 {
		e.t.Errorf("%s accessories of %s@%s = %d, want 1", cosignSignatureType, repository,
			digest, signatures)
	}
}
