package registry

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/harbortest"
)

const (
	harborProject = "team"
	harborRobot   = "ci"
	harborSecret  = "robot-secret-Rp4"
)

// harborEnv is a Harbor double with the team project, its robot and faults.
type harborEnv struct {
	srv    *harbortest.Server
	faults *harbortest.Faults
	auth   authn.Authenticator
	client *harbor.Client
	// lookups counts the calls of lookup.
	lookups atomic.Int32
}

// newHarborEnv starts a Harbor double whose team project has metadata.
func newHarborEnv(t *testing.T, metadata map[string]string) *harborEnv {
	t.Helper()
	e := &harborEnv{faults: harbortest.NewFaults()}
	var err error
	e.srv, err = harbortest.New(
		harbortest.WithProject(harbortest.Project{Name: harborProject, Metadata: metadata}),
		harbortest.WithRobot(harborProject, harborRobot, harborSecret),
		harbortest.WithFaults(e.faults),
	)
	if err != nil {
		t.Fatalf("starting the Harbor double: %v", err)
	}
	t.Cleanup(func() { e.srv.Close() })
	robot := harbortest.RobotName(harborProject, harborRobot)
	e.auth = &authn.Basic{Username: robot, Password: harborSecret}
	e.client, err = harbor.NewClient(harbor.Config{URL: e.srv.URL(), Username: robot,
		Password: harborSecret})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// lookup is a TagLookup that reads the artifact by digest from Harbor's API.
func (e *harborEnv) lookup(ctx context.Context, digest name.Digest, tag string) (bool, error) {
	e.lookups.Add(1)
	ref, err := harbor.ArtifactRefFromDigest(digest)
	if err != nil {
		return false, err
	}
	artifact, err := e.client.Artifact(ctx, ref)
	if errors.Is(err, harbor.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, t := range artifact.Tags {
		if t != nil && t.Name == tag {
			return true, nil
		}
	}
	return false, nil
}

// manifestRequests returns the manifest requests to team/app from the request log entry
// from on, as "METHOD reference status".
func (e *harborEnv) manifestRequests(from int) []string {
	var got []string
	for _, r := range e.srv.RegistryRequests()[from:] {
		if r.Repository == harborProject+"/app" && r.Kind == "manifests" {
			got = append(got, r.Method+" "+r.Reference+" "+http.StatusText(r.Status))
		}
	}
	return got
}

func TestRepeatedPushToHarbor(t *testing.T) {
	noScan := map[string]string{"auto_scan": "false"}
	tests := []struct {
		name     string
		metadata map[string]string
		// second is the target of the second push: a tag, or "" for the source's digest.
		second     string
		noLookup   bool
		wantPushed bool
		// wantRequests are the manifest requests of the second push, with the source's
		// digest written as "D".
		wantRequests []string
		wantLookups  int32
	}{{
		name:         "same tag writes nothing",
		second:       "1",
		wantPushed:   true,
		wantRequests: []string{"HEAD D OK"},
		wantLookups:  1,
	}, {
		name:         "other tag is written",
		second:       "2",
		wantRequests: []string{"HEAD D OK", "PUT 2 Created"},
		wantLookups:  1,
	}, {
		name:         "same tag under vulnerability prevention",
		metadata:     map[string]string{"auto_scan": "false", "prevent_vul": "true"},
		second:       "1",
		wantPushed:   true,
		wantRequests: []string{"HEAD D Precondition Failed"},
		wantLookups:  1,
	}, {
		name:         "same digest writes nothing",
		metadata:     noScan,
		second:       "",
		wantPushed:   true,
		wantRequests: []string{"HEAD D OK"},
	}, {
		name:         "same tag without lookup is written again",
		second:       "1",
		noLookup:     true,
		wantRequests: []string{"HEAD D OK", "PUT 1 Created"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newHarborEnv(t, tc.metadata)
			src := openSource(t, writeLayout(t, layoutEntry{image: randomImage(t, 2)}))
			repo, err := name.NewRepository(e.srv.Host() + "/" + harborProject + "/app")
			if err != nil {
				t.Fatal(err)
			}
			first, err := Push(t.Context(), src, repo.Tag("1"), WithAuth(e.auth))
			if err != nil {
				t.Fatalf("first Push: %v", err)
			}
			from := len(e.srv.RegistryRequests())
			var target name.Reference = repo.Tag(tc.second)
			if tc.second == "" {
				target = src.DigestIn(repo)
			}
			opts := []Option{WithAuth(e.auth)}
			if !tc.noLookup {
				opts = append(opts, WithTagLookup(e.lookup))
			}

			second, err := Push(t.Context(), src, target, opts...)
			if err != nil {
				t.Fatalf("second Push: %v", err)
			}

			if second.AlreadyPushed != tc.wantPushed {
				t.Errorf("AlreadyPushed = %t, want %t", second.AlreadyPushed, tc.wantPushed)
			}
			if second.Digest != first.Digest || !second.DigestConfirmed {
				t.Errorf("Digest, DigestConfirmed = %s, %t, want %s, true", second.Digest,
					second.DigestConfirmed, first.Digest)
			}
			if second.BlobsUploaded != 0 || second.BlobsSkipped != 3 {
				t.Errorf("BlobsUploaded, BlobsSkipped = %d, %d, want 0, 3",
					second.BlobsUploaded, second.BlobsSkipped)
			}
			want := make([]string, len(tc.wantRequests))
			for i, r := range tc.wantRequests {
				want[i] = strings.Replace(r, " D ", " "+src.Digest().String()+" ", 1)
			}
			if diff := cmp.Diff(want, e.manifestRequests(from)); diff != "" {
				t.Errorf("manifest requests of the second push (-want +got):\n%s", diff)
			}
			if got := e.lookups.Load(); got != tc.wantLookups {
				t.Errorf("tag lookups = %d, want %d", got, tc.wantLookups)
			}
		})
	}
}

// errLookupFailed is the error of a tag lookup that fails on purpose.
var errLookupFailed = errors.New("lookup failed on purpose")

func TestPushToImmutableTag(t *testing.T) {
	tests := []struct {
		name string
		// earlier, when set, is pushed to the tag first, with no fault armed.
		earlier bool
		// lostResponse stores the manifest PUT of the tag and then resets the connection.
		lostResponse bool
		lookup       func(e *harborEnv) TagLookup
		wantErr      error
		wantLookups  int32
		// wantPuts are the manifest PUTs of the tag by status, the earlier push included.
		wantPuts map[int]int
	}{{
		name:         "lost response confirmed by lookup",
		lostResponse: true,
		lookup:       func(e *harborEnv) TagLookup { return e.lookup },
		wantLookups:  1,
		wantPuts:     map[int]int{http.StatusCreated: 1, http.StatusPreconditionFailed: 1},
	}, {
		name:         "lost response without lookup",
		lostResponse: true,
		wantErr:      ErrPolicyRefused,
		wantPuts:     map[int]int{http.StatusCreated: 1, http.StatusPreconditionFailed: 1},
	}, {
		name:        "tag holds another image",
		earlier:     true,
		lookup:      func(e *harborEnv) TagLookup { return e.lookup },
		wantErr:     ErrPolicyRefused,
		wantLookups: 1,
		wantPuts:    map[int]int{http.StatusCreated: 1, http.StatusPreconditionFailed: 1},
	}, {
		name:         "lookup fails",
		lostResponse: true,
		lookup: func(e *harborEnv) TagLookup {
			return func(context.Context, name.Digest, string) (bool, error) {
				e.lookups.Add(1)
				return false, errLookupFailed
			}
		},
		wantErr:     errLookupFailed,
		wantLookups: 1,
		wantPuts:    map[int]int{http.StatusCreated: 1, http.StatusPreconditionFailed: 1},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newHarborEnv(t, map[string]string{"auto_scan": "false"})
			if _, err := e.srv.AddImmutableRule(harborProject, "**", "**"); err != nil {
				t.Fatal(err)
			}
			target, err := name.NewTag(e.srv.Host() + "/" + harborProject + "/app:1")
			if err != nil {
				t.Fatal(err)
			}
			if tc.earlier {
				earlier := openSource(t, writeLayout(t, layoutEntry{image: randomImage(t, 1)}))
				if _, err := Push(t.Context(), earlier, target, WithAuth(e.auth)); err != nil {
					t.Fatalf("pushing the earlier image: %v", err)
				}
			}
			if tc.lostResponse {
				err := e.faults.Arm("lost", harbortest.Fault{
					Surface: harbortest.SurfaceRegistry, Method: http.MethodPut,
					Path: "/manifests/1$", Reset: true, AfterServing: true, Times: 1})
				if err != nil {
					t.Fatal(err)
				}
			}
			src := openSource(t, writeLayout(t, layoutEntry{image: randomImage(t, 2)}))
			opts := []Option{WithAuth(e.auth)}
			if tc.lookup != nil {
				opts = append(opts, WithTagLookup(tc.lookup(e)))
			}

			res, err := Push(t.Context(), src, target, opts...)

			checkImmutablePush(t, src, res, err, tc.wantErr)
			if got := e.lookups.Load(); got != tc.wantLookups {
				t.Errorf("tag lookups = %d, want %d", got, tc.wantLookups)
			}
			puts := map[int]int{}
			for _, r := range e.srv.RegistryRequests() {
				if r.Kind == "manifests" && r.Method == http.MethodPut && r.Reference == "1" {
					puts[r.Status]++
				}
			}
			if diff := cmp.Diff(tc.wantPuts, puts); diff != "" {
				t.Errorf("manifest PUTs of tag 1 by status (-want +got):\n%s", diff)
			}
		})
	}
}

// checkImmutablePush checks the outcome of a push to an immutable tag: a result that
// names the source's digest as already pushed, or an error wrapping wantErr. A rejection
// must stay a *PolicyError of an immutable tag.
func checkImmutablePush(t *testing.T, src *Source, res *Result, err, wantErr error) {
	t.Helper()
	if wantErr == nil {
		if err != nil {
			t.Fatalf("Push: %v", err)
		}
		if !res.AlreadyPushed {
			t.Error("AlreadyPushed = false, want true")
		}
		if res.Digest.DigestStr() != src.Digest().String() || !res.DigestConfirmed {
			t.Errorf("Digest, DigestConfirmed = %s, %t, want %s, true", res.Digest,
				res.DigestConfirmed, src.Digest())
		}
		return
	}
	if !errors.Is(err, wantErr) {
		t.Fatalf("Push error = %v, want one wrapping %v", err, wantErr)
	}
	var rejection *PolicyError
	if !errors.As(err, &rejection) || !rejection.Immutable() {
		t.Errorf("Push error = %v, want a *PolicyError of an immutable tag", err)
	}
}
