package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"golang.org/x/sync/errgroup"

	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// Names in the double and in the fake cluster.
const (
	benchProject    = "bench"
	sourceProject   = "staging"
	robotName       = "ci"
	robotSecret     = "bench-robot-secret-Qx31"
	webhookSecret   = "Bearer bench-hook-secret-Wp28"
	runNamespace    = "builds"
	systemNamespace = "harbor-gate"
)

// measure runs cfg.runs CustomRuns against a fresh double and controller and returns the
// latency of each verdict and the API requests that the runs made.
func measure(ctx context.Context, cfg config, webhooks bool) (result, error) {
	srv, err := harbortest.New(
		harbortest.WithProject(harbortest.Project{Name: benchProject,
			Metadata: map[string]string{"auto_scan": "true"}}),
		harbortest.WithProject(harbortest.Project{Name: sourceProject, Public: true}),
		harbortest.WithRobot(benchProject, robotName, robotSecret),
	)
	if err != nil {
		return result{}, fmt.Errorf("starting the Harbor double: %w", err)
	}
	defer srv.Close()
	sources, err := pushSources(ctx, srv, cfg.runs)
	if err != nil {
		return result{}, err
	}

	ctrl, err := startController(ctx, srv, webhooks)
	if err != nil {
		return result{}, err
	}
	defer ctrl.stop()
	if webhooks {
		if err := addScanPolicy(srv, ctrl.webhookURL); err != nil {
			return result{}, err
		}
	}

	before := totalRequests(srv.Stats())
	start := time.Now()
	if err := ctrl.runAll(ctx, sources, cfg.concurrency); err != nil {
		return result{}, err
	}
	res := result{wall: time.Since(start), apiRequests: totalRequests(srv.Stats()) - before}
	res.latencies, err = latencies(ctx, srv, ctrl)
	return res, err
}

// pushSources pushes n distinct small images to the public source project. Harbor keys
// scan reports by digest, so each run needs an image of its own.
func pushSources(ctx context.Context, srv *harbortest.Server, n int) ([]string, error) {
	admin := &authn.Basic{Username: harbortest.DefaultAdminUser,
		Password: harbortest.DefaultAdminPassword}
	sources := make([]string, n)
	group, groupCtx := errgroup.WithContext(ctx)
	group.SetLimit(8)
	for i := range sources {
		sources[i] = fmt.Sprintf("%s/%s/src-%d:v1", srv.Host(), sourceProject, i)
		group.Go(func() error {
			img, err := random.Image(512, 1)
			if err != nil {
				return err
			}
			ref, err := name.ParseReference(sources[i])
			if err != nil {
				return err
			}
			if err := remote.Write(ref, img, remote.WithAuth(admin),
				remote.WithContext(groupCtx)); err != nil {
				return fmt.Errorf("pushing source %s: %w", sources[i], err)
			}
			return nil
		})
	}
	return sources, group.Wait()
}

// addScanPolicy subscribes the controller's receiver to the bench project's scan events.
func addScanPolicy(srv *harbortest.Server, address string) error {
	_, err := srv.AddWebhookPolicy(benchProject, models.WebhookPolicy{
		Name:    "harbor-gate",
		Enabled: true,
		EventTypes: []string{harbortest.EventScanningCompleted,
			harbortest.EventScanningFailed, harbortest.EventScanningStopped},
		Targets: []*models.WebhookTargetObject{{
			Type: "http", Address: address, AuthHeader: webhookSecret,
			PayloadFormat: harbortest.PayloadFormatDefault,
		}},
	})
	if err != nil {
		return fmt.Errorf("adding the webhook policy: %w", err)
	}
	return nil
}

func totalRequests(stats harbortest.Stats) int {
	total := 0
	for _, n := range stats.APIRequests {
		total += n
	}
	return total
}

// latencies returns, for each finished run, the time from the scan's end in Harbor to the
// informer's first sight of the finished run. Harbor's end_time has millisecond
// precision, so each latency is up to 1ms longer than the true one.
func latencies(ctx context.Context, srv *harbortest.Server, ctrl *benchController) (
	[]time.Duration, error) {
	client, err := harbor.NewClient(harbor.Config{URL: srv.URL(),
		Username: harbortest.DefaultAdminUser, Password: harbortest.DefaultAdminPassword})
	if err != nil {
		return nil, err
	}
	var out []time.Duration
	for _, done := range ctrl.finished() {
		scan, err := client.Scan(ctx, harbor.ArtifactRef{Project: benchProject,
			Repository: done.repository, Digest: done.digest})
		if err != nil {
			return nil, fmt.Errorf("reading the scan of %s: %w", done.repository, err)
		}
		if scan.End.IsZero() {
			return nil, fmt.Errorf("the scan of %s has no end time", done.repository)
		}
		out = append(out, done.at.Sub(scan.End))
	}
	return out, nil
}

// finishedRun is a run that the informer saw done.
type finishedRun struct {
	repository string
	digest     string
	at         time.Time
}

// doneTracker records when the informer first receives each run as done.
type doneTracker struct {
	mu      sync.Mutex
	done    map[string]finishedRun
	waiting map[string]chan struct{}
}

func newDoneTracker() *doneTracker {
	return &doneTracker{done: map[string]finishedRun{}, waiting: map[string]chan struct{}{}}
}

// expect returns a channel that is closed when the named run is seen done.
func (d *doneTracker) expect(name string) <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch := make(chan struct{})
	d.waiting[name] = ch
	return ch
}

// observe is the informer's update handler.
func (d *doneTracker) observe(obj any) {
	at := time.Now()
	run, ok := obj.(*v1beta1.CustomRun)
	if !ok || !run.IsDone() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, seen := d.done[run.Name]; seen {
		return
	}
	finished := finishedRun{repository: run.Name, at: at}
	for _, r := range run.Status.Results {
		if r.Name == "IMAGE_DIGEST" {
			finished.digest = r.Value
		}
	}
	d.done[run.Name] = finished
	if ch, ok := d.waiting[run.Name]; ok {
		close(ch)
	}
}

// listenLoopback opens a listener on a free loopback port.
func listenLoopback() (net.Listener, error) {
	return net.Listen("tcp", "127.0.0.1:0")
}

func init() {
	// knative.dev/pkg/system reads the controller's namespace from this variable.
	if os.Getenv("SYSTEM_NAMESPACE") == "" {
		os.Setenv("SYSTEM_NAMESPACE", systemNamespace)
	}
}
