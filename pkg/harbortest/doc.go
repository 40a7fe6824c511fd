// Package harbortest runs a Harbor double on one loopback listener, for tests and demos
// that need Harbor without containers.
//
// The double embeds a real registry (CNCF Distribution v3) under /v2/ and answers, in front
// of it, what Harbor's core answers: the token service at /service/token, permission checks
// on every registry request, artifact records for every manifest push (including cosign
// signature accessories and OCI referrers), a subset of the Harbor v2.0 REST API under
// /api/v2.0, and Harbor's project policies on the registry: vulnerability prevention and
// cosign-only pulls (HTTP 412 PROJECTPOLICYVIOLATION) and immutable tag rules (HTTP 412
// PRECONDITION). RegistryRequests returns a log of the /v2/ requests served. Its scanner
// produces vulnerability reports whose findings, timing and failures come from a Fixture,
// and whose status advances with an injectable Clock, so tests with a fake clock never
// sleep. Like Harbor, it stores project webhook policies and, when a scan reaches a final
// status, posts one webhook per scanned digest to each enabled policy in the Default or
// the CloudEvents payload format.
//
// The REST API also manages what a project's policy is made of:
//   - project robot accounts under /robots. Each has exactly the permissions it was
//     created with, on the REST API and in registry tokens, and cannot authenticate once
//     disabled or expired;
//   - CVE allowlists of projects (cve_allowlist of PUT /projects/{id}) and of the system
//     (/system/CVEAllowlist), which vulnerability prevention honours;
//   - tag retention policies under /retentions, whose executions, or RunRetention, delete
//     the artifacts no rule retains, with their tags and signatures, from the registry;
//   - system settings under /configurations, whose passwords GET never returns;
//   - registry endpoints (/registries), replication policies (/replication/policies) and
//     proxy-cache projects, which are stored but never replicate or pull anything.
//
// Response bodies of the REST API are built from the model types of
// github.com/goharbor/go-client, so they decode with the same client that talks to a real
// Harbor. A typical test:
//
//	srv, err := harbortest.New(harbortest.WithRobot("demo", "ci", "s3cret"),
//		harbortest.WithProject(harbortest.Project{Name: "demo"}))
//	if err != nil { ... }
//	defer srv.Close()
//	ref := srv.Host() + "/demo/app:v1"
//
// Everything the double serves listens on 127.0.0.1 unless WithAddr says otherwise, and it
// contacts no other host.
package harbortest
