//go:build integration

package integration

import (
	"context"
	"fmt"
	"testing"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/policy"
	"github.com/druppie/harbor-gate/pkg/reconciler/imagegate"
)

// The credentials Secret appears only after the run started. The controller, with the
// RBAC of config/, first reads NotFound and waits, then reads the Secret and passes. A
// controller without "get" on Secrets would read Forbidden instead and never pass.
func TestCredentialsSecretReadWithControllerRBAC(t *testing.T) {
	e := newTestEnv(t)
	e.createKeySecret()
	e.createImageGate()
	e.createPipeline(0)
	pr := e.runPipeline(e.target(repoClean))

	waiting := e.waitCustomRun(pr, "waiting for the Secret", func(run *v1beta1.CustomRun) bool {
		return succeeded(run).Reason == imagegate.ReasonSecretNotFound
	})
	if waiting.IsDone() {
		t.Fatalf("the CustomRun finished without credentials: %+v", succeeded(waiting))
	}
	e.createCredentials()

	run := e.waitCustomRun(pr, "done", isDone)
	cond := succeeded(run)
	if cond.Status != corev1.ConditionTrue || cond.Reason != imagegate.ReasonPassed {
		t.Fatalf("CustomRun condition = %s/%s (%s), want True/%s", cond.Status, cond.Reason,
			cond.Message, imagegate.ReasonPassed)
	}
	if verdict := results(run)[gate.ResultVerdict]; verdict != string(policy.Pass) {
		t.Errorf("result %s = %q, want %q", gate.ResultVerdict, verdict, policy.Pass)
	}
}

// The controller's identity may get a Secret by name in a run's namespace, and nothing
// more: listing or watching Secrets, in one namespace or cluster-wide, is forbidden.
func TestControllerIdentityCannotListSecrets(t *testing.T) {
	e := newTestEnv(t)
	e.createSecrets()
	kube, err := kubernetes.NewForConfig(e.c.gateConfig)
	if err != nil {
		t.Fatal(err)
	}

	review, err := kube.AuthenticationV1().SelfSubjectReviews().Create(e.ctx,
		&authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("reviewing the controller's identity: %v", err)
	}
	wantUser := fmt.Sprintf("system:serviceaccount:%s:%s", gateNamespace, gateServiceAccount)
	if got := review.Status.UserInfo.Username; got != wantUser {
		t.Fatalf("controller identity = %q, want %q", got, wantUser)
	}

	tests := []struct {
		name          string
		request       func(context.Context) error
		wantForbidden bool
	}{{
		name: "get by name in the run's namespace",
		request: func(ctx context.Context) error {
			_, err := kube.CoreV1().Secrets(e.ns).Get(ctx, credentialsName, metav1.GetOptions{})
			return err
		},
	}, {
		name: "list cluster-wide",
		request: func(ctx context.Context) error {
			_, err := kube.CoreV1().Secrets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
			return err
		},
		wantForbidden: true,
	}, {
		name: "list in the run's namespace",
		request: func(ctx context.Context) error {
			_, err := kube.CoreV1().Secrets(e.ns).List(ctx, metav1.ListOptions{})
			return err
		},
		wantForbidden: true,
	}, {
		name: "watch cluster-wide",
		request: func(ctx context.Context) error {
			w, err := kube.CoreV1().Secrets(metav1.NamespaceAll).Watch(ctx, metav1.ListOptions{})
			if err == nil {
				w.Stop()
			}
			return err
		},
		wantForbidden: true,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.request(e.ctx)
			if tc.wantForbidden && !apierrors.IsForbidden(err) {
				t.Errorf("error = %v, want Forbidden", err)
			}
			if !tc.wantForbidden && err != nil {
				t.Errorf("error = %v, want nil", err)
			}
		})
	}
}
