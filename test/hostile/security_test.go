package hostile

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/druppie/harbor-gate/internal/cli"
	"github.com/druppie/harbor-gate/pkg/events"
	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// webhookSourceDirs are the packages that handle the webhook secret, relative to this
// package.
var webhookSourceDirs = []string{"../../pkg/events", "../../pkg/reconciler/imagegate"}

// TestWebhookSecretComparedInConstantTime reads the receiver's source: authorized must
// compare with crypto/subtle or crypto/hmac, and no code of the webhook packages may
// compare a secret or an Authorization header with == or !=, whose time depends on the
// length of the common prefix.
func TestWebhookSecretComparedInConstantTime(t *testing.T) {
	fset := token.NewFileSet()
	constantTime := false
	for _, dir := range webhookSourceDirs {
		for _, file := range parseSources(t, fset, dir) {
			ast.Inspect(file, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.FuncDecl:
					if n.Name.Name == "authorized" && callsConstantTimeCompare(n) {
						constantTime = true
					}
				case *ast.BinaryExpr:
					if (n.Op == token.EQL || n.Op == token.NEQ) && !isEmpty(n.X) &&
						!isEmpty(n.Y) && (mentionsSecret(n.X) || mentionsSecret(n.Y)) {
						t.Errorf("%s compares %s with %s", fset.Position(n.Pos()),
							exprText(n.X), n.Op)
					}
				}
				return true
			})
		}
	}
	if !constantTime {
		t.Error("pkg/events has no func authorized that calls subtle.ConstantTimeCompare " +
			"or hmac.Equal")
	}
}

func TestWebhookReceiverWithoutSecretRejects(t *testing.T) {
	receiver := events.NewReceiver(events.WithSecret(""))
	srv := httptest.NewServer(receiver)
	t.Cleanup(srv.Close)
	for _, auth := range []string{"", "Bearer "} {
		req, err := http.NewRequest(http.MethodPost, srv.URL,
			strings.NewReader(scanEvent(testDigest, "")))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status = %d, want 401", auth, resp.StatusCode)
		}
	}
}

// parseSources parses the non-test Go files of dir.
func parseSources(t *testing.T, fset *token.FileSet, dir string) []*ast.File {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("listing the Go files of %s: %v", dir, err)
	}
	var files []*ast.File
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, file)
	}
	return files
}

// callsConstantTimeCompare reports whether fn calls subtle.ConstantTimeCompare or
// hmac.Equal.
func callsConstantTimeCompare(fn *ast.FuncDecl) bool {
	found := false
	ast.Inspect(fn, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		switch exprText(call.Fun) {
		case "subtle.ConstantTimeCompare", "hmac.Equal":
			found = true
		}
		return true
	})
	return found
}

// mentionsSecret reports whether e is a name or selector of a secret's or a header's
// value, or a call of Header.Get("Authorization"). The name of a Secret object is no
// secret value.
func mentionsSecret(e ast.Expr) bool {
	text := strings.ToLower(exprText(e))
	if strings.Contains(text, "authorization") {
		return true
	}
	switch e.(type) {
	case *ast.Ident, *ast.SelectorExpr:
		return !strings.HasSuffix(text, "name") &&
			(strings.Contains(text, "secret") || strings.HasSuffix(text, "header"))
	}
	return false
}

// isEmpty reports whether e is the empty string literal or nil. Comparing with either
// shows only whether a secret is set, not its content.
func isEmpty(e ast.Expr) bool {
	if lit, ok := e.(*ast.BasicLit); ok {
		return lit.Value == `""`
	}
	ident, ok := e.(*ast.Ident)
	return ok && ident.Name == "nil"
}

// exprText returns the source form of names, selectors and calls with literal
// arguments, and "" for other expressions.
func exprText(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprText(e.X) + "." + e.Sel.Name
	case *ast.CallExpr:
		var args []string
		for _, arg := range e.Args {
			if lit, ok := arg.(*ast.BasicLit); ok {
				args = append(args, lit.Value)
			}
		}
		return exprText(e.Fun) + "(" + strings.Join(args, ", ") + ")"
	}
	return ""
}

func TestTLSVerifiedByDefault(t *testing.T) {
	transport, err := gate.NewTransport(nil, false)
	if err != nil {
		t.Fatal(err)
	}
	httpTransport, ok := transport.(*http.Transport)
	if !ok {
		t.Fatalf("gate.NewTransport returned a %T, want *http.Transport", transport)
	}
	if httpTransport.TLSClientConfig == nil || httpTransport.TLSClientConfig.InsecureSkipVerify {
		t.Errorf("the default transport does not verify TLS certificates: %+v",
			httpTransport.TLSClientConfig)
	}

	e := newCLIEnv(t, harbortest.WithTLS())
	t.Run("self-signed CA", func(t *testing.T) {
		code, _, stderr := runCLI(t, e.args("app")...)
		if code != cli.ExitError {
			t.Errorf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitError, stderr)
		}
		checkFragments(t, "stderr", stderr,
			[]string{"x509: certificate signed by unknown authority", "--ca-bundle"})
		if got := e.srv.Stats().ManifestPuts[project+"/app"]; got != 0 {
			t.Errorf("manifest PUTs = %d, want 0 without a trusted certificate", got)
		}
	})
	t.Run("CA bundle", func(t *testing.T) {
		ca := filepath.Join(e.dir, "harbor-ca.pem")
		if err := os.WriteFile(ca, e.srv.CACertPEM(), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runCLI(t, e.args("app", "--ca-bundle", ca)...)
		if code != cli.ExitPass {
			t.Errorf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitPass, stderr)
		}
	})
}
