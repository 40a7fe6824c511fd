package hostile

import (
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/druppie/harbor-gate/internal/cli"
	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// Secrets of the --notify URL: the password of its user information and a token in its
// query, as a core service may require either.
const (
	notifyPassword = "s3cr3t-notify-Lm30"
	notifyToken    = "s3cr3t-token-Vb62"
)

// secretForms returns every secret of the command line runs with its encodings that a
// leak could take: base64 with and without padding, URL-safe base64, URL escaping, and
// the base64 of a Basic authorization "user:secret".
func secretForms() map[string]string {
	users := map[string]string{
		robotSecret:    harbortest.RobotName(project, robotName),
		sourcePassword: sourceUser,
		notifyPassword: "core",
		keyPassword:    "",
		notifyToken:    "",
	}
	forms := map[string]string{}
	for secret, user := range users {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding,
			base64.URLEncoding, base64.RawURLEncoding} {
			forms[enc.EncodeToString([]byte(secret))] = secret
			if user != "" {
				forms[enc.EncodeToString([]byte(user+":"+secret))] = secret + " in Basic auth"
			}
		}
		forms[secret] = secret
		forms[url.QueryEscape(secret)] = secret
		forms[url.PathEscape(secret)] = secret
	}
	return forms
}

// sink is a loopback CloudEvents sink that stores every request body.
type sink struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies []string
}

func newSink(t *testing.T) *sink {
	s := &sink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(body))
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// received returns the bodies the sink received, joined.
func (s *sink) received() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.bodies, "\n")
}

// notifyURL returns a URL of s with both notify secrets in it.
func (s *sink) notifyURL() string {
	u, err := url.Parse(s.srv.URL)
	if err != nil {
		panic(err)
	}
	return "http://core:" + notifyPassword + "@" + u.Host + "/events?access_token=" + notifyToken
}

// closedNotifyURL returns a notify URL with both secrets on a port where nothing listens.
func closedNotifyURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://core:" + notifyPassword + "@" + addr + "/events?access_token=" + notifyToken
}

func TestPublishOutputHasNoSecret(t *testing.T) {
	e := newCLIEnv(t)
	source := e.pushPrivateSource(t)
	core := newSink(t)
	fromPrivate := func(repository string, extra ...string) []string {
		args := setFlag(e.args(repository, extra...), "--source", source)
		return append(args, "--source-username", sourceUser,
			"--source-password-file", e.sourcePwd)
	}
	tests := []struct {
		name string
		args []string
		code int
	}{{
		name: "PASS as JSON with a notification",
		args: fromPrivate("app", "-o", "json", "--notify", core.notifyURL()),
		code: cli.ExitPass,
	}, {
		name: "FAIL as text with an unreachable sink",
		args: fromPrivate("vulnerable-app", "--notify", closedNotifyURL(t)),
		code: cli.ExitFail,
	}, {
		name: "Harbor error as JSON",
		args: setFlag(fromPrivate("app", "-o", "json"), "--target",
			e.srv.Host()+"/nosuchproject/app:1"),
		code: cli.ExitError,
	}, {
		name: "wrong source password",
		args: setFlag(fromPrivate("app"), "--source-password-file", e.robotPwd),
		code: cli.ExitError,
	}, {
		name: "wrong key password",
		args: setFlag(fromPrivate("app"), "--key-password-file", e.sourcePwd),
		code: cli.ExitUsage,
	}}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			results := filepath.Join(e.dir, "results-"+string(rune('a'+i)))
			code, stdout, stderr := runCLI(t, append(tc.args, "--results-dir", results)...)
			if code != tc.code {
				t.Errorf("exit code = %d, want %d\nstderr:\n%s", code, tc.code, stderr)
			}
			outputs := map[string]string{"stdout": stdout, "stderr": stderr}
			for name, data := range readDir(t, results) {
				outputs["result "+name] = data
			}
			checkNoSecret(t, outputs)
		})
	}
	checkNoSecret(t, map[string]string{"the notifications": core.received()})
	if core.received() == "" {
		t.Error("the sink received no notification")
	}
}

// readDir returns the contents of the files in dir, by name. A missing dir is empty.
func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, entry := range entries {
		data, err := os.ReadFile(filepath.Join(dir, entry.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[entry.Name()] = string(data)
	}
	return files
}

// checkNoSecret reports each output that contains a secret in any of its forms.
func checkNoSecret(t *testing.T, outputs map[string]string) {
	t.Helper()
	for name, data := range outputs {
		for form, secret := range secretForms() {
			if strings.Contains(data, form) {
				t.Errorf("%s contains the secret %s as %q:\n%s", name, secret, form, data)
			}
		}
	}
}
