package projectpolicy

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/go-openapi/runtime"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"

	"github.com/druppie/harbor-gate/pkg/harbor"
)

// NewAPI returns a go-client for Harbor's v2.0 API built by harbor.NewAPI, so that it
// checks cfg and sets up TLS, the User-Agent header and authentication as
// harbor.NewClient does.
func NewAPI(cfg harbor.Config) (*client.HarborAPI, error) {
	return harbor.NewAPI(cfg)
}

// HarborError is an error response of Harbor to one call of Plan or Apply.
type HarborError struct {
	// Op is the action that failed, such as "creating immutable rule tags=v* repos=**".
	Op string
	// StatusCode is the HTTP status, or 0 when no response arrived.
	StatusCode int
	// Message is Harbor's error message, or the transport error.
	Message string
	err     error
}

// Error implements error.
func (e *HarborError) Error() string {
	if e.StatusCode == 0 {
		return fmt.Sprintf("%s: %s", e.Op, e.Message)
	}
	return fmt.Sprintf("%s: %s (HTTP %d)", e.Op, e.Message, e.StatusCode)
}

// Unwrap returns the go-client error.
func (e *HarborError) Unwrap() error { return e.err }

type payloadError interface {
	GetPayload() *models.Errors
	IsCode(code int) bool
}

// documentedStatuses are the error statuses that Harbor's swagger lists for operations,
// so go-client returns them as typed errors.
var documentedStatuses = []int{400, 401, 403, 404, 405, 409, 412, 422, 500}

// wrapHarbor turns a go-client error into a *HarborError with Harbor's message.
func wrapHarbor(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	e := &HarborError{Op: fmt.Sprintf(format, args...), Message: err.Error(), err: err}
	var typed payloadError
	var apiErr *runtime.APIError
	switch {
	case errors.As(err, &typed):
		for _, code := range documentedStatuses {
			if typed.IsCode(code) {
				e.StatusCode = code
			}
		}
		if p := typed.GetPayload(); p != nil && len(p.Errors) > 0 && p.Errors[0] != nil {
			e.Message = p.Errors[0].Code + ": " + p.Errors[0].Message
		} else {
			e.Message = http.StatusText(e.StatusCode)
		}
	case errors.As(err, &apiErr):
		e.StatusCode = apiErr.Code
		e.Message = http.StatusText(apiErr.Code)
	}
	return e
}

// isStatus reports whether err is a Harbor response with the HTTP status code.
func isStatus(err error, code int) bool {
	var typed interface{ IsCode(int) bool }
	if errors.As(err, &typed) {
		return typed.IsCode(code)
	}
	var apiErr *runtime.APIError
	return errors.As(err, &apiErr) && apiErr.Code == code
}
