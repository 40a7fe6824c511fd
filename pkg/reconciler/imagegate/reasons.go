package imagegate

import "github.com/druppie/harbor-gate/pkg/policy"

// Reasons of the CustomRun's Succeeded condition.
const (
	// ReasonStarted means the controller has seen the run and set its start time.
	ReasonStarted = "Started"
	// ReasonRunning means a phase finished and the next one is due, or the run waits for
	// Harbor's scan.
	ReasonRunning = "Running"
	// ReasonTransientError means a phase failed with an error that may heal by itself, such
	// as a network error or HTTP 429 or 5xx, and the work queue repeats it with backoff.
	ReasonTransientError = "TransientError"
	// ReasonRetrying means an attempt failed and a new one started because spec.retries
	// allows it. The failed attempt is kept in status.retriesStatus.
	ReasonRetrying = "Retrying"
	// ReasonSecretNotFound means a Secret the spec names, or one of its keys, does not
	// exist. The run keeps checking until the Secret appears or the run times out.
	ReasonSecretNotFound = "SecretNotFound"

	// ReasonPassed means the scan finished and the image meets the policy: VERDICT=PASS.
	ReasonPassed = string(policy.ReasonPassed)
	// ReasonPolicyViolation means the scan finished and found more than the policy allows.
	ReasonPolicyViolation = string(policy.ReasonPolicyViolation)
	// ReasonScanFailed means Harbor's scan ended in Error or Stopped.
	ReasonScanFailed = string(policy.ReasonScanFailed)
	// ReasonScanIncomplete means the scan covered only part of an image index or carried
	// no summary.
	ReasonScanIncomplete = string(policy.ReasonScanIncomplete)
	// ReasonNotScannable means Harbor will never scan the image: no scanner is configured
	// or reachable, or the scanner does not support the artifact.
	ReasonNotScannable = string(policy.ReasonNotScannable)
	// ReasonTimedOut means either that no final scan status arrived within the scan
	// timeout (a FAIL verdict), or that the whole run passed spec.timeout. The condition
	// message distinguishes the two.
	ReasonTimedOut = string(policy.ReasonTimedOut)

	// ReasonInvalidSpec means the ImageGate spec, the customSpec or the params are invalid,
	// the cosign key cannot be decrypted, the KMS reference names no supported provider, or
	// the source credentials Secret is not a Docker config. The message names the field or
	// the Secret.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonImageGateNotFound means the ImageGate that customRef names does not exist in
	// the run's namespace.
	ReasonImageGateNotFound = "ImageGateNotFound"
	// ReasonCancelled means the run was cancelled through spec.status RunCancelled.
	ReasonCancelled = "Cancelled"
	// ReasonHarborError means Harbor's API rejected a request for good, for example with
	// HTTP 401, 403 or 404.
	ReasonHarborError = "HarborError"
	// ReasonPushFailed means the image could not be read from the source or pushed to
	// Harbor's registry.
	ReasonPushFailed = "PushFailed"
	// ReasonSignFailed means signing the pushed digest or verifying the new signature
	// failed, or the KMS key could not be loaded.
	ReasonSignFailed = "SignFailed"
	// ReasonInvalidStatus means status.extraFields holds data the controller cannot read,
	// for example after a manual edit.
	ReasonInvalidStatus = "InvalidStatus"
)

// Reasons of the Kubernetes Events the controller records on a CustomRun.
const (
	// EventPushed records that the image was pushed, with its digest.
	EventPushed = "Pushed"
	// EventSigned records that the pushed digest was signed and the signature verified.
	EventSigned = "Signed"
	// EventScanStarted records that the wait for Harbor's scan began.
	EventScanStarted = "ScanStarted"
	// EventPassed records a run that ended with VERDICT=PASS, with the final scan status
	// and the findings.
	EventPassed = "Passed"
	// EventFailed records a run that ended with VERDICT=FAIL, with the final scan status
	// and the findings, or a run that failed before a verdict.
	EventFailed = "Failed"
	// EventRetrying records that a failed attempt is followed by a new one.
	EventRetrying = "Retrying"
)
