package registry

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Harbor's error codes on HTTP 412 from its registry, from Harbor v2.13
// src/lib/errors/const.go.
const (
	// CodePolicyViolation marks a pull that vulnerability prevention or cosign content trust
	// blocked.
	CodePolicyViolation = "PROJECTPOLICYVIOLATION"
	// CodePrecondition marks a push that an immutable tag rule blocked, among other
	// preconditions.
	CodePrecondition = "PRECONDITION"
)

// ErrPolicyRefused is returned, wrapped in a *PolicyError, when Harbor refused a registry
// request because of a project policy. Repeating the request unchanged fails again.
var ErrPolicyRefused = errors.New("refused by a Harbor project policy")

// PolicyError is an HTTP 412 from a registry, which Harbor returns when a project policy
// rejects a request. Vulnerability prevention and cosign content trust reject manifest
// pulls with the code PROJECTPOLICYVIOLATION. Immutable tag rules reject manifest pushes
// with the code PRECONDITION. It unwraps to ErrPolicyRefused and to go-containerregistry's error.
type PolicyError struct {
	// Method and URL are the refused request.
	Method, URL string
	// Code is Harbor's error code, or empty when the response had no body, as for HEAD.
	Code string
	// Message is Harbor's error message, or empty when the response had no body.
	Message string
	// Err is go-containerregistry's *transport.Error.
	Err error
}

// Error names the request, Harbor's code and message.
func (e *PolicyError) Error() string {
	message := e.Message
	if message == "" {
		message = "no details, because the response to " + e.Method + " has no body"
	}
	code := e.Code
	if code == "" {
		code = "no code"
	}
	return fmt.Sprintf("%s %s: %s (HTTP 412 %s): %s", e.Method, e.URL, ErrPolicyRefused,
		code, message)
}

// Unwrap returns ErrPolicyRefused and the registry client's error.
func (e *PolicyError) Unwrap() []error { return []error{ErrPolicyRefused, e.Err} }

// Immutable reports whether an immutable tag rule refused the request. Harbor v2.13 states
// that only in the message: "Failed to process request due to '<repository>:<tag>'
// configured as immutable."
func (e *PolicyError) Immutable() bool {
	return e.Code == CodePrecondition && strings.Contains(e.Message, "configured as immutable")
}

// ClassifyError returns err wrapped in a *PolicyError when it carries an HTTP 412 from the
// registry, and err unchanged otherwise. Harbor returns 412 only for policy refusals, so a
// 412 is never a network fault to retry.
func ClassifyError(err error) error {
	var terr *transport.Error
	if err == nil || !errors.As(err, &terr) || terr.StatusCode != http.StatusPreconditionFailed {
		return err
	}
	var already *PolicyError
	if errors.As(err, &already) {
		return err
	}
	policyErr := &PolicyError{Err: err}
	if terr.Request != nil {
		policyErr.Method = terr.Request.Method
		policyErr.URL = terr.Request.URL.Redacted()
	}
	for _, diagnostic := range terr.Errors {
		if diagnostic.Code != "" || diagnostic.Message != "" {
			policyErr.Code = string(diagnostic.Code)
			policyErr.Message = diagnostic.Message
			break
		}
	}
	return policyErr
}
