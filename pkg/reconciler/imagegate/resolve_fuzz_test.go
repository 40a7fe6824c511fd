package imagegate

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
	"github.com/druppie/harbor-gate/pkg/gate"
)

// Bits of the flags argument of FuzzParams.
const (
	fuzzOmitSource = 1 << iota
	fuzzOmitTarget
	fuzzArrayParam
)

// maxShortenedBytes bounds a message that went through shorten: the kept
// bytes plus the "... (N more bytes)" note, with N below 10^12.
const maxShortenedBytes = maxMessageBytes + len("... ( more bytes)") + 12

// FuzzParams resolves a CustomRun with a fuzzed customSpec and fuzzed params. It checks
// that resolve never panics, that every error is a non-retryable InvalidSpec failure with
// a bounded message, and that a resolved spec carries the params and is valid.
func FuzzParams(f *testing.F) {
	const spec = `{"harbor":{"url":"https://harbor.example","credentialsSecret":"harbor"},` +
		`"signing":{"keySecret":"cosign"}}`
	const source, target = "registry.example/team/app:1", "harbor.example/team/app:v1"
	// signed returns a customSpec with the given fields and a signing key.
	signed := func(fields string) string {
		return `{"signing":{"kms":"hashivault://cosign"},` + fields + `}`
	}
	f.Add([]byte(spec), source, target, "", "", "", "", "", uint8(0))
	f.Add([]byte(spec), source, target, "high", "20m", "Fail", "", "", uint8(0))
	f.Add([]byte(`{"harbor":{"url":"http://127.0.0.1:8080"},"signing":{"skip":true},`+
		`"policy":{"severity":"low","maxCounts":{"Low":3}},"scan":{"timeout":"1h"},`+
		`"onFail":"Succeed"}`),
		"127.0.0.1:5000/src/app@sha256:"+strings.Repeat("ab", 32),
		"127.0.0.1:8080/team/group/app", "CRITICAL", "1h30m", "Succeed", "", "", uint8(0))
	bad := []struct {
		customSpec                                       string
		source, target, severity, timeout, onFail, extra string
		flags                                            uint8
	}{
		{customSpec: "", source: source, target: target},
		{customSpec: "null", source: source, target: target},
		{customSpec: "[]", source: source, target: target},
		{customSpec: "{", source: source, target: target},
		{customSpec: signed(`"harbor":{"url":"https://h"},"Harbor":{}`),
			source: source, target: target},
		{customSpec: signed(`"harbor":{"url":"https://h"},"harbor":{"url":"https://i"}`),
			source: source, target: target},
		{customSpec: signed(`"harbor":{"url":"https://u:p@h"}`), source: source, target: target},
		{customSpec: signed(`"harbor":{"url":"ftp://h?q#f"}`), source: source, target: target},
		{customSpec: signed(`"harbor":{"url":"https://h",` +
			`"caBundle":"-----BEGIN CERTIFICATE-----"}`), source: source, target: target},
		{customSpec: signed(`"harbor":{"url":"https://h"},"scan":{"timeout":"-5s"}`),
			source: source, target: target},
		{customSpec: signed(`"harbor":{"url":"https://h"},"scan":{"timeout":5}`),
			source: source, target: target},
		{customSpec: signed(`"harbor":{"url":"https://h"},"policy":{"allowlist":[{"id":""}]}`),
			source: source, target: target},
		{customSpec: signed(`"harbor":{"url":"https://h"},"policy":{"maxCounts":{"Low":-1}}`),
			source: source, target: target},
		{customSpec: `{"harbor":{"url":"https://h"},"signing":{"kms":"k","keySecret":"s"}}`,
			source: source, target: target},
		{customSpec: spec, source: "oci:/workspace/layout", target: target},
		{customSpec: spec, source: "docker-archive:image.tar", target: target},
		{customSpec: spec, source: "./layout", target: target},
		{customSpec: spec, source: "", target: ""},
		{customSpec: spec, source: source, target: "harbor.example/team/../app"},
		{customSpec: spec, source: source, target: "harbor.example/team/app@sha256:" +
			strings.Repeat("ab", 32)},
		{customSpec: spec, source: source, target: "harbor.example/" + strings.Repeat("A", 5000)},
		{customSpec: spec, source: source, target: target, severity: "severe"},
		{customSpec: spec, source: source, target: target, timeout: "-1s"},
		{customSpec: spec, source: source, target: target, timeout: "0"},
		{customSpec: spec, source: source, target: target, timeout: "9999999999h"},
		{customSpec: spec, source: source, target: target, onFail: "fail"},
		{customSpec: spec, source: source, target: target, extra: "verdict"},
		{customSpec: spec, source: source, target: target, extra: ParamSource},
		{customSpec: spec, source: source, target: target, extra: ParamSeverity,
			flags: fuzzArrayParam},
		{customSpec: spec, source: source, target: target, flags: fuzzOmitSource | fuzzOmitTarget},
		{customSpec: spec, source: "h\u00e4rbor.example/app", target: "harbor.example/t/\u212a"},
	}
	for _, b := range bad {
		f.Add([]byte(b.customSpec), b.source, b.target, b.severity, b.timeout, b.onFail,
			b.extra, "x", b.flags)
	}
	f.Fuzz(func(t *testing.T, customSpec []byte, source, target, severity, timeout,
		onFail, extraName, extraValue string, flags uint8) {
		params := fuzzedParams(source, target, severity, timeout, onFail, extraName,
			extraValue, flags)
		run := &v1beta1.CustomRun{Spec: v1beta1.CustomRunSpec{
			CustomSpec: &v1beta1.EmbeddedCustomRunSpec{
				TypeMeta: runtime.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(),
					Kind: v1alpha1.Kind},
				Spec: runtime.RawExtension{Raw: customSpec},
			},
			Params: params,
		}}
		resolved, err := (&Reconciler{}).resolve(context.Background(), run)
		if err != nil {
			checkInvalidSpec(t, err)
			return
		}
		checkResolved(t, resolved, source, target)
	})
}

// fuzzedParams returns the params of a fuzzed run. An empty optional value
// leaves its param out, and so does an empty extra name.
func fuzzedParams(source, target, severity, timeout, onFail, extraName, extraValue string,
	flags uint8) []v1beta1.Param {
	var params []v1beta1.Param
	if flags&fuzzOmitSource == 0 {
		params = append(params, param(ParamSource, source))
	}
	if flags&fuzzOmitTarget == 0 {
		params = append(params, param(ParamTarget, target))
	}
	optional := []struct{ name, value string }{
		{ParamSeverity, severity}, {ParamTimeout, timeout}, {ParamOnFail, onFail},
	}
	for _, p := range optional {
		if p.value != "" {
			params = append(params, param(p.name, p.value))
		}
	}
	if extraName == "" {
		return params
	}
	extra := param(extraName, extraValue)
	if flags&fuzzArrayParam != 0 {
		extra.Value = *v1beta1.NewStructuredValues(extraValue, extraValue)
	}
	return append(params, extra)
}

// checkInvalidSpec checks that err ends the run as InvalidSpec, for good, with a message
// short enough for a condition.
func checkInvalidSpec(t *testing.T, err error) {
	t.Helper()
	var failure *runFailure
	if !errors.As(err, &failure) {
		t.Fatalf("resolve error = %v (%T), want a *runFailure", err, err)
	}
	if failure.reason != ReasonInvalidSpec {
		t.Errorf("reason = %q, want %q; message %.200q", failure.reason, ReasonInvalidSpec,
			failure.message)
	}
	if failure.retryable {
		t.Errorf("an InvalidSpec failure is retryable: %.200q", failure.message)
	}
	if failure.message == "" {
		t.Errorf("an InvalidSpec failure has an empty message")
	}
	if n := len(failure.message); n > maxShortenedBytes {
		t.Errorf("message is %d bytes, want at most %d: %.200q", n, maxShortenedBytes,
			failure.message)
	}
}

// checkResolved checks that a resolved run carries its params and passes validation.
func checkResolved(t *testing.T, resolved *RunSpec, source, target string) {
	t.Helper()
	if resolved.Source != source || resolved.Target != target {
		t.Errorf("resolved source %q, target %q; want the params %q, %q", resolved.Source,
			resolved.Target, source, target)
	}
	if _, err := gate.ParseTarget(resolved.Target); err != nil {
		t.Errorf("resolved target %q is invalid: %v", resolved.Target, err)
	}
	for _, prefix := range []string{"oci:", "oci-archive:", "docker-archive:"} {
		if strings.HasPrefix(resolved.Source, prefix) {
			t.Errorf("resolved source %q is a local %s source", resolved.Source, prefix)
		}
	}
	if fe := resolved.Spec.Validate(context.Background()); fe != nil {
		t.Errorf("resolved spec is invalid: %v", fe)
	}
	if onFail := resolved.Spec.OnFail; onFail != v1alpha1.FailActionSucceed &&
		onFail != v1alpha1.FailActionFail {
		t.Errorf("resolved onFail = %q, want Succeed or Fail", onFail)
	}
}
