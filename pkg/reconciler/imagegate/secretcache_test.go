package imagegate

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"k8s.io/apimachinery/pkg/types"
	clientgotesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
	fakekubeclient "knative.dev/pkg/client/injection/kube/client/fake"

	"github.com/druppie/harbor-gate/pkg/gate"
)

func TestSecretCacheExpires(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC))
	cache := newSecretCache(clock, 30*time.Second)
	key := types.NamespacedName{Namespace: "builds", Name: "robot"}
	other := types.NamespacedName{Namespace: "builds", Name: "other"}
	data := map[string][]byte{SecretKeyUsername: []byte("robot$ci")}

	cache.put(key, data)
	clock.Step(29 * time.Second)
	got, ok := cache.get(key)
	if !ok {
		t.Fatal("get() after 29s found no entry, want the stored data")
	}
	if diff := cmp.Diff(data, got); diff != "" {
		t.Errorf("get() after 29s (-want +got):\n%s", diff)
	}
	clock.Step(time.Second)
	if _, ok := cache.get(key); ok {
		t.Error("get() after 30s found the entry, want it expired")
	}
	cache.put(other, data)
	if _, pruned := cache.entries[key]; pruned {
		t.Error("put() kept the expired entry, want it dropped")
	}
	cache.forget(other)
	if _, ok := cache.get(other); ok {
		t.Error("get() after forget() found the entry")
	}
}

// credentialGets counts the GETs of the Harbor credentials Secret that the fake client saw.
func credentialGets(e *env) int {
	n := 0
	for _, action := range fakekubeclient.Get(e.ctx).Actions() {
		get, ok := action.(clientgotesting.GetAction)
		if ok && get.GetResource().Resource == "secrets" && get.GetName() == credentialsRef {
			n++
		}
	}
	return n
}

func inScanPhase(t *testing.T) func(*v1beta1.CustomRun) bool {
	return func(run *v1beta1.CustomRun) bool {
		return extraFields(t, run).State.Phase == gate.PhaseScan
	}
}

func TestScanPollsReuseCredentials(t *testing.T) {
	e := newEnv(t)
	e.create(refRun(e.params("slow-app")...))
	e.drive(inScanPhase(t))
	before := credentialGets(e)

	got := e.drive(nil)

	if polls := extraFields(t, got).State.Scan.Polls; polls < 3 {
		t.Fatalf("the run polled %d times, want at least 3 for the test to mean anything",
			polls)
	}
	if gets := credentialGets(e) - before; gets != 0 {
		t.Errorf("scan polls within %s of the last read made %d GETs of Secret %s, want 0",
			secretCacheTTL, gets, credentialsRef)
	}
	if cond := succeeded(got); cond.Reason != ReasonPassed {
		t.Errorf("condition reason = %q (%s), want %q", cond.Reason, cond.Message, ReasonPassed)
	}
}

func TestRejectedCachedCredentialsAreReadAgain(t *testing.T) {
	e := newEnv(t)
	e.create(refRun(e.params("app")...))
	e.drive(inScanPhase(t))
	// Past the next poll and the grace period, but within the cache's TTL.
	e.clock.Step(5 * time.Second)
	key := types.NamespacedName{Namespace: namespace, Name: credentialsRef}
	e.r.secrets.put(key, map[string][]byte{
		SecretKeyUsername: []byte("robot$rotated"), SecretKeyPassword: []byte("old-Secret-1"),
	})

	if _, err := e.reconcile(); err == nil {
		t.Fatalf("reconcile with rejected cached credentials succeeded, want an error "+
			"that makes the work queue repeat it; status %s", e.get().Status.ExtraFields.Raw)
	}
	if cond := succeeded(e.get()); cond.Reason != ReasonTransientError {
		t.Errorf("condition reason = %q (%s), want %q", cond.Reason, cond.Message,
			ReasonTransientError)
	}
	before := credentialGets(e)
	got := e.drive(nil)
	if cond := succeeded(got); cond.Reason != ReasonPassed {
		t.Errorf("condition reason = %q (%s), want %q", cond.Reason, cond.Message, ReasonPassed)
	}
	if gets := credentialGets(e) - before; gets != 1 {
		t.Errorf("after the rejection the run made %d GETs of Secret %s, want 1", gets,
			credentialsRef)
	}
}
