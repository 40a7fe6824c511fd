// Package projectpolicy keeps Harbor project settings as code: it reads a policy file,
// validates it, compares it with Harbor through go-client, and writes the differences.
//
// A policy file contains YAML documents of apiVersion harbor.druppie.dev/v1alpha1. Kind
// HarborProject describes one project, named by metadata.name; its spec fields are
// public, autoScan, vulnerabilityPrevention {enabled, severity}, cosignOnly,
// cveAllowlist {reuseSystem | expiresAt, items}, immutableTags [{repositories |
// excludeRepositories, tags | excludeTags}], retention {schedule, deleteAfterDays [{tags,
// days, repositories}]}, webhooks [{name, description, enabled, eventTypes, target
// {address, allowHTTP, payloadFormat, authHeader, skipCertVerify}}], robot {name,
// description, durationDays}, replication [{name, description, target, direction,
// filters {repositories, tags}, destinationNamespace, trigger {type, cron}, override,
// enabled, deletion}] and proxyCache {upstream}. A target or upstream is a registry
// endpoint {name, type, url, insecure, credential {accessKey, accessSecret}}. Kind
// HarborInstance sets oidc {name, endpoint, clientID, clientSecret, groupsClaim,
// adminGroup, scope, verifyCert, autoOnboard, userClaim} and systemCVEAllowlist. Secrets are a SecretSource: {file: PATH} or {secretRef: {namespace,
// name, key}}. config/harbor/project.yaml and instance.yaml are commented examples.
//
// Ownership: a field left out leaves Harbor's setting alone. A list that is present owns
// its kind: immutable rules and webhook policies (matched by name) that the file does not
// list are deleted, and a retention block replaces the project's retention policy. Only
// the robot the file names is managed; other robots are left alone. A replication list
// owns the replication policies that push the project's repositories, recognised by a
// name filter that starts with "<project>/", and deletes those it does not name. Registry endpoints are shared by the whole
// instance: Plan creates and updates the ones the file names and never deletes one.
//
// Proxy caches: a HarborProject with proxyCache set is a proxy-cache project, so one
// document still describes one project and its public flag and other settings apply as
// usual. Plan creates the upstream endpoint first, then the project with its
// registry_id. Harbor sets registry_id only at creation, so PlanProject returns an error
// wrapping ErrProxyCache when the project exists as a normal project or caches another
// endpoint.
//
// What cannot be compared: Harbor returns neither robot secrets, the OIDC client secret
// nor registry endpoint access secrets, and may leave webhook auth headers out of its
// responses. Those secrets are written when their object is created or changed for
// another reason, and plans name only their source, never the value.
//
// Typical use:
//
//	doc, err := projectpolicy.Load(file)
//	if err == nil { err = doc.Validate() }
//	api, err := projectpolicy.NewAPI(harbor.Config{URL: ..., Username: ..., Password: ...})
//	plan, err := projectpolicy.PlanProject(ctx, api, doc.Projects[0])
//	fmt.Print(plan)
//	result, err := plan.Apply(ctx, api)
//
// The package logs nothing.
package projectpolicy
