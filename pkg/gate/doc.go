// Package gate runs harbor-gate's main job for one image: push it to a
// Harbor project, sign the pushed digest with cosign, wait for Harbor's
// vulnerability scan of that digest, and judge the scan with a policy.
//
// Every step after the push addresses the image by the digest the registry
// returned for the push, never by tag. The package logs nothing; callers
// follow progress through Options.OnEvent.
package gate
