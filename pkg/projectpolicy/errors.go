package projectpolicy

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every error about the content of a policy file: a YAML
// syntax error, an unknown field or a value that Validate rejects.
var ErrInvalid = errors.New("invalid policy")

// ErrSecret is wrapped by errors that come from reading a secret from a file or a
// Kubernetes Secret. The message names the source, never the value.
var ErrSecret = errors.New("reading secret failed")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// fieldErrors collects validation problems, each prefixed with the field path.
type fieldErrors struct{ errs []error }

func (f *fieldErrors) add(field, format string, args ...any) {
	f.errs = append(f.errs, invalidf(field+": "+format, args...))
}

func (f *fieldErrors) err() error { return errors.Join(f.errs...) }

// ErrProxyCache is wrapped by the error of PlanProject when spec.proxyCache requests a
// change that Harbor cannot make to an existing project, such as turning a normal
// project into a proxy cache.
var ErrProxyCache = errors.New("proxy-cache project cannot be changed")
