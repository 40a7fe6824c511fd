// Package policy turns a Harbor vulnerability scan summary into a verdict.
//
// The verdict is PASS or FAIL with the reasons that led to it. A scan that
// did not finish with status Success, that carries no summary, or that
// covers only part of an image index never passes, under any policy. The
// package knows nothing of Harbor's API or of Kubernetes: callers convert
// what they read into a Report.
package policy
