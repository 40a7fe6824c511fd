package imagegate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"knative.dev/pkg/apis"
	kjson "sigs.k8s.io/json"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/policy"
)

// Names of the params a CustomRun may pass.
const (
	// ParamSource is the image to publish, a registry reference. Required.
	ParamSource = "source"
	// ParamTarget is the Harbor repository, HOST/PROJECT/REPOSITORY[:TAG]. Required.
	ParamTarget = "target"
	// ParamSeverity overrides spec.policy.severity.
	ParamSeverity = "severity"
	// ParamTimeout overrides spec.scan.timeout, as a Go duration such as 20m.
	ParamTimeout = "timeout"
	// ParamOnFail overrides spec.onFail: Succeed or Fail.
	ParamOnFail = "onFail"
)

var imageGateResource = v1alpha1.SchemeGroupVersion.WithResource("imagegates")

// resolve builds the input of a run: the spec of the named ImageGate or the customSpec,
// then the params on top, then the cluster defaults and the built-in defaults in the
// fields still empty. Invalid input yields a runFailure with the field path.
func (r *Reconciler) resolve(ctx context.Context, run *v1beta1.CustomRun) (*RunSpec, error) {
	spec, origin, err := r.baseSpec(ctx, run)
	if err != nil {
		return nil, err
	}
	resolved := &RunSpec{Spec: *spec}
	if ref := run.Spec.CustomRef; ref != nil {
		resolved.ImageGate = ref.Name
	}
	if fe := applyParams(run.Spec.Params, resolved); fe != nil {
		return nil, invalidSpec("%v", fe)
	}
	resolved.Spec.SetDefaults(ctx)
	if fe := resolved.Spec.Validate(ctx); fe != nil {
		return nil, invalidSpec("%s%v", origin.label, fe.ViaField(origin.path...))
	}
	return resolved, nil
}

// specOrigin locates the fields of a spec in messages: label names the object that holds
// the spec, and path is the spec's field path inside it.
type specOrigin struct {
	label string
	path  []string
}

// baseSpec returns the spec the run names and where it comes from.
func (r *Reconciler) baseSpec(ctx context.Context, run *v1beta1.CustomRun) (
	*v1alpha1.ImageGateSpec, specOrigin, error) {
	if ref := run.Spec.CustomRef; ref != nil {
		spec, err := r.imageGateSpec(ctx, run.Namespace, ref.Name)
		label := fmt.Sprintf("ImageGate %s/%s: ", run.Namespace, ref.Name)
		return spec, specOrigin{label: label, path: []string{"spec"}}, err
	}
	if run.Spec.CustomSpec == nil {
		return nil, specOrigin{}, invalidSpec(
			"the run has neither spec.customRef nor spec.customSpec")
	}
	spec, err := decodeCustomSpec(run.Spec.CustomSpec.Spec)
	return spec, specOrigin{path: []string{"spec", "customSpec", "spec"}}, err
}

// imageGateSpec reads an ImageGate through the dynamic client. A missing ImageGate ends
// the run; any other error is returned for the work queue to retry.
func (r *Reconciler) imageGateSpec(ctx context.Context, namespace, name string) (
	*v1alpha1.ImageGateSpec, error) {
	if name == "" {
		return nil, invalidSpec("%v", apis.ErrMissingField("spec.customRef.name"))
	}
	obj, err := r.dynamicClient.Resource(imageGateResource).Namespace(namespace).
		Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, &runFailure{reason: ReasonImageGateNotFound, message: fmt.Sprintf(
			"ImageGate %s/%s not found; create it or fix spec.customRef.name", namespace, name)}
	}
	if err != nil {
		return nil, fmt.Errorf("reading ImageGate %s/%s: %w", namespace, name, err)
	}
	var gate v1alpha1.ImageGate
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &gate); err != nil {
		return nil, invalidSpec("ImageGate %s/%s cannot be read: %v", namespace, name, err)
	}
	return &gate.Spec, nil
}

// decodeCustomSpec decodes spec.customSpec.spec strictly, so that a misspelt field is an
// error rather than a setting silently ignored.
func decodeCustomSpec(raw runtime.RawExtension) (*v1alpha1.ImageGateSpec, error) {
	spec := &v1alpha1.ImageGateSpec{}
	if len(raw.Raw) == 0 {
		return nil, invalidSpec("%v", apis.ErrMissingField("spec.customSpec.spec"))
	}
	// Decode as the API server decodes an ImageGate: field names match
	// case-sensitively and a duplicate or unknown field is an error, so the
	// run uses exactly the settings a reviewer reads.
	strictErrs, err := kjson.UnmarshalStrict(raw.Raw, spec)
	if err == nil && len(strictErrs) > 0 {
		err = errors.Join(strictErrs...)
	}
	if err != nil {
		return nil, invalidSpec("%v", apis.ErrGeneric(shorten(err.Error()),
			"spec.customSpec.spec"))
	}
	return spec, nil
}

// applyParams checks the params and writes them into resolved.
func applyParams(params v1beta1.Params, resolved *RunSpec) *apis.FieldError {
	var errs *apis.FieldError
	seen := map[string]bool{}
	for _, p := range params {
		path := fmt.Sprintf("spec.params[%s]", p.Name)
		switch {
		case seen[p.Name]:
			errs = errs.Also(apis.ErrGeneric("duplicate param", path))
		case p.Value.Type != v1beta1.ParamTypeString:
			errs = errs.Also(apis.ErrGeneric(fmt.Sprintf("the param has type %s, but "+
				"every param of an ImageGate run is a string", p.Value.Type), path))
		default:
			errs = errs.Also(applyParam(p.Name, p.Value.StringVal, path, resolved))
		}
		seen[p.Name] = true
	}
	for _, required := range []string{ParamSource, ParamTarget} {
		if !seen[required] {
			errs = errs.Also(apis.ErrMissingField(fmt.Sprintf("spec.params[%s]", required)))
		}
	}
	return errs
}

func applyParam(param, value, path string, resolved *RunSpec) *apis.FieldError {
	spec := &resolved.Spec
	switch param {
	case ParamSource:
		resolved.Source = value
		return checkSource(value, path)
	case ParamTarget:
		resolved.Target = value
		if _, err := gate.ParseTarget(value); err != nil {
			return apis.ErrInvalidValue(value, path, err.Error())
		}
	case ParamSeverity:
		spec.Policy.Severity = value
		if _, err := policy.ParseSeverity(value); err != nil {
			return apis.ErrInvalidValue(value, path, err.Error())
		}
	case ParamTimeout:
		d, err := time.ParseDuration(value)
		if err != nil || d <= 0 {
			return apis.ErrInvalidValue(value, path, "use a positive Go duration such as 20m")
		}
		spec.Scan.Timeout = &metav1.Duration{Duration: d}
	case ParamOnFail:
		spec.OnFail = v1alpha1.FailAction(value)
		if spec.OnFail != v1alpha1.FailActionSucceed && spec.OnFail != v1alpha1.FailActionFail {
			return apis.ErrInvalidValue(value, path, "use Succeed or Fail")
		}
	default:
		return apis.ErrGeneric(fmt.Sprintf("unknown param %q; use %s", param, strings.Join(
			[]string{ParamSource, ParamTarget, ParamSeverity, ParamTimeout, ParamOnFail}, ", ")),
			path)
	}
	return nil
}

// checkSource accepts registry references only. The controller has no workspace, so the
// OCI layout and tarball sources of "harbor-gate publish" cannot exist here.
func checkSource(value, path string) *apis.FieldError {
	for _, prefix := range []string{"oci:", "oci-archive:", "docker-archive:"} {
		if strings.HasPrefix(value, prefix) {
			return apis.ErrInvalidValue(value, path, "the controller reads sources from "+
				"registries only; use HOST/REPOSITORY:TAG or HOST/REPOSITORY@sha256:...")
		}
	}
	if _, err := name.ParseReference(value); err != nil {
		return apis.ErrInvalidValue(value, path, err.Error())
	}
	return nil
}
