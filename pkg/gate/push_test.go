package gate_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// artifactRoute is the double's count key of reading an artifact.
const artifactRoute = "GET /projects/{project_name}/repositories/{repository_name}/" +
	"artifacts/{reference}"

// acceptedPuts counts the manifest PUTs of team/app that the double accepted, by reference.
func acceptedPuts(srv *harbortest.Server) map[string]int {
	puts := map[string]int{}
	for _, r := range srv.RegistryRequests() {
		if r.Repository == project+"/app" && r.Kind == "manifests" &&
			r.Method == http.MethodPut && r.Status == http.StatusCreated {
			puts[r.Reference]++
		}
	}
	return puts
}

// TestPushStepRepeated repeats the Push step with the state it started from, as a
// controller that was killed before it stored the step's outcome does.
func TestPushStepRepeated(t *testing.T) {
	tests := []struct {
		name string
		// target is the target's repository and tag, after the registry host.
		target string
		// wantReads are the artifact reads of the repeated step: by the tag lookup, or
		// after the push.
		wantReads int
		// wantEvent is part of the step's last event.
		wantEvent string
	}{
		{name: "tag", target: "/" + project + "/app:v1", wantReads: 1,
			wantEvent: ":v1 already points at sha256:"},
		{name: "digest", target: "/" + project + "/app", wantReads: 1,
			wantEvent: " is already in the repository"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startDouble(t)
			opts := options(t, srv, pushSource(t, srv), "app")
			target, err := gate.ParseTarget(srv.Host() + tc.target)
			if err != nil {
				t.Fatal(err)
			}
			opts.Target = target
			var events []string
			opts.OnEvent = func(e gate.Event) { events = append(events, e.Message) }
			g, err := gate.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			resolved := step(t, g, gate.State{})
			pushed := step(t, g, resolved)
			reads := srv.Stats().APIRequests[artifactRoute]
			events = nil

			repeated := step(t, g, resolved)

			if repeated.Phase != gate.PhaseSign || repeated.Digest != pushed.Digest ||
				repeated.ProjectID != pushed.ProjectID {
				t.Errorf("repeated Push state = %+v, want phase %s, digest %s, project %d",
					repeated, gate.PhaseSign, pushed.Digest, pushed.ProjectID)
			}
			total := 0
			for _, n := range acceptedPuts(srv) {
				total += n
			}
			if total != 1 {
				t.Errorf("accepted manifest PUTs = %v, want 1 in all", acceptedPuts(srv))
			}
			if got := srv.Stats().APIRequests[artifactRoute] - reads; got != tc.wantReads {
				t.Errorf("artifact reads of the repeated step = %d, want %d", got,
					tc.wantReads)
			}
			if len(events) == 0 {
				t.Fatal("the repeated Push step emitted no event")
			}
			if last := events[len(events)-1]; !strings.Contains(last, tc.wantEvent) {
				t.Errorf("last event = %q, want one containing %q", last, tc.wantEvent)
			}
		})
	}
}

// step runs one Step and returns its state.
func step(t *testing.T, g *gate.Gate, state gate.State) gate.State {
	t.Helper()
	res, err := g.Step(context.Background(), state)
	if err != nil {
		t.Fatalf("Step in phase %q: %v", state.Phase, err)
	}
	return res.State
}

func TestRunImmutableTag(t *testing.T) {
	tests := []struct {
		name string
		// lostResponse stores the image manifest PUT and then resets the connection.
		lostResponse bool
		// earlier pushes another image to the tag before the run.
		earlier bool
		wantErr error
		// wantPuts are the accepted manifest PUTs of the tag, an earlier push included.
		wantPuts int
	}{
		{name: "stored push whose response was lost", lostResponse: true, wantPuts: 1},
		{name: "tag holds another image", earlier: true, wantErr: gate.ErrPolicyRefused,
			wantPuts: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			faults := harbortest.NewFaults()
			srv := startDouble(t, harbortest.WithFaults(faults))
			if _, err := srv.AddImmutableRule(project, "v1", "**"); err != nil {
				t.Fatal(err)
			}
			source := pushSource(t, srv)
			if tc.earlier {
				pushRandomImage(t, srv, srv.Host()+"/"+project+"/app:v1")
			}
			if tc.lostResponse {
				err := faults.Arm("lost", harbortest.Fault{
					Surface: harbortest.SurfaceRegistry, Method: http.MethodPut,
					Path: "/" + project + "/app/manifests/v1$", Reset: true,
					AfterServing: true, Times: 1})
				if err != nil {
					t.Fatal(err)
				}
			}

			res, err := gate.Run(context.Background(), options(t, srv, source, "app"))

			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Run: %v", err)
			case tc.wantErr == nil && res.Digest != sourceDigest(t, source):
				t.Errorf("Digest = %s, want the source's %s", res.Digest, sourceDigest(t, source))
			case tc.wantErr == nil && !res.Verdict.Passed():
				t.Errorf("verdict = %s %q, want PASS", res.Verdict.Result, res.Verdict.Details)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("Run error = %v, want one wrapping %v", err, tc.wantErr)
			case tc.wantErr != nil && !strings.Contains(err.Error(), "configured as immutable"):
				t.Errorf("Run error %q does not name the immutable tag", err)
			}
			if got := acceptedPuts(srv)["v1"]; got != tc.wantPuts {
				t.Errorf("accepted manifest PUTs of v1 = %d, want %d", got, tc.wantPuts)
			}
			if tc.lostResponse && faults.Fired("lost") != 1 {
				t.Errorf("the lost response fault fired %d times, want 1", faults.Fired("lost"))
			}
		})
	}
}

// sourceDigest returns the digest of the source image, read with the source user.
func sourceDigest(t *testing.T, source string) string {
	t.Helper()
	ref, err := name.ParseReference(source)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(ref, remote.WithAuth(&authn.Basic{Username: sourceUser,
		Password: sourceSecret}))
	if err != nil {
		t.Fatalf("reading the digest of %s: %v", source, err)
	}
	return desc.Digest.String()
}

// pushRandomImage pushes a random image to ref with the team robot's credentials.
func pushRandomImage(t *testing.T, srv *harbortest.Server, ref string) {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	auth := &authn.Basic{Username: harbortest.RobotName(project, robotName),
		Password: robotSecret}
	if err := remote.Write(tag, img, remote.WithAuth(auth)); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
}
