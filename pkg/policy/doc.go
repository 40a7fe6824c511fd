// Package policy turns a Harbor vulnerability scan summary into a verdict.
//
// The verdict is PASS or FAIL with the reasons that led to it. A scan that
// did not finish with status Success, that carries no summary, or that
// covers only part of an image index never passes, under any policy. A
// policy that counts only fixable findings or exempts vulnerabilities by
// id judges the list of findings instead of the summary's counts. The
// package depends on neither Harbor's API nor Kubernetes, so callers
// convert what they read into a Report.
package policy
