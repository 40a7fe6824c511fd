package projectpolicy

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// replicationTriggerTypes are the trigger types of Harbor v2.13's replication policies.
var replicationTriggerTypes = []string{TriggerManual, TriggerScheduled, TriggerEventBased}

func validateReplications(f *fieldErrors, rules []Replication) {
	names := map[string]bool{}
	for i, r := range rules {
		field := fmt.Sprintf("spec.replication[%d]", i)
		if !nameRegexp.MatchString(r.Name) || len(r.Name) > 255 {
			f.add(field+".name", "%q is not a valid replication rule name: use lower-case "+
				"letters and digits separated by single '.', '_' or '-'", r.Name)
		}
		if names[r.Name] {
			f.add(field+".name", "replication rule %q is listed twice: names must be "+
				"unique", r.Name)
		}
		names[r.Name] = true
		validateReplication(f, field, r)
	}
}

func validateReplication(f *fieldErrors, field string, r Replication) {
	if r.Target.endpointType() != RegistryTypeHarbor {
		f.add(field+".target.type", "%q is not a replication target type: only %s is "+
			"supported", r.Target.Type, RegistryTypeHarbor)
	}
	validateEndpoint(f, field+".target", r.Target)
	if r.Direction != "" && r.Direction != DirectionPush {
		f.add(field+".direction", "%q is not supported: use %s, and use a proxyCache "+
			"project to keep upstream images close", r.Direction, DirectionPush)
	}
	if r.Filters.Repositories != "" {
		if err := checkPattern(r.Filters.Repositories); err != nil {
			f.add(field+".filters.repositories", "%v", err)
		}
	}
	if r.Filters.Tags != "" {
		if err := checkPattern(r.Filters.Tags); err != nil {
			f.add(field+".filters.tags", "%v", err)
		}
	}
	if ns := r.DestinationNamespace; ns != "" && !nameRegexp.MatchString(ns) {
		f.add(field+".destinationNamespace", "%q is not a valid Harbor project name", ns)
	}
	validateTrigger(f, field+".trigger", r.Trigger)
}

func validateTrigger(f *fieldErrors, field string, t ReplicationTrigger) {
	switch {
	case t.Type != "" && !slices.Contains(replicationTriggerTypes, t.Type):
		f.add(field+".type", "%q is not a trigger type: use one of %s", t.Type,
			strings.Join(replicationTriggerTypes, ", "))
	case t.Type == TriggerScheduled && t.Cron == "":
		f.add(field+".cron", "missing cron for a scheduled trigger, such as \"0 0 2 * * *\"")
	case t.Type != TriggerScheduled && t.Cron != "":
		f.add(field+".cron", "only a scheduled trigger has a cron: remove it or set type "+
			"to %s", TriggerScheduled)
	}
	if err := validateCron(t.Cron); err != nil {
		f.add(field+".cron", "%v", err)
	}
}

func validateProxyCache(f *fieldErrors, pc *ProxyCache) {
	e := pc.Upstream
	if !slices.Contains(ProxyCacheRegistryTypes, e.Type) {
		f.add("spec.proxyCache.upstream.type", "%q is not a registry type that a proxy "+
			"cache supports: use one of %s", e.Type, strings.Join(ProxyCacheRegistryTypes, ", "))
	}
	validateEndpoint(f, "spec.proxyCache.upstream", e)
}

// validateEndpoint checks an endpoint's name, URL and credential. The URL must use
// https unless insecure is true.
func validateEndpoint(f *fieldErrors, field string, e RegistryEndpoint) {
	if !nameRegexp.MatchString(e.Name) || len(e.Name) > 255 {
		f.add(field+".name", "%q is not a valid registry endpoint name: use lower-case "+
			"letters and digits separated by single '.', '_' or '-'", e.Name)
	}
	u, err := url.Parse(e.URL)
	switch {
	case err != nil || u.Host == "":
		f.add(field+".url", "%q is not an absolute URL such as https://registry.example",
			e.URL)
	case u.User != nil:
		f.add(field+".url", "%q contains user information: set credential instead", e.URL)
	case u.RawQuery != "" || u.Fragment != "":
		f.add(field+".url", "%q has a query or fragment: remove it", e.URL)
	case u.Scheme == "http" && !e.Insecure:
		f.add(field+".url", "%q uses http, which sends the credential in clear text: use "+
			"https, or set insecure: true", e.URL)
	case u.Scheme != "https" && u.Scheme != "http":
		f.add(field+".url", "%q: the scheme must be https", e.URL)
	}
	if c := e.Credential; c != nil {
		if c.AccessKey == "" {
			f.add(field+".credential.accessKey", "missing access key, such as a robot "+
				"account name")
		}
		if c.AccessSecret == nil {
			f.add(field+".credential.accessSecret", "missing access secret source: set "+
				"file or secretRef")
		} else {
			validateSecretSource(f, field+".credential.accessSecret", c.AccessSecret)
		}
	}
}

// endpointKey returns the settings of an endpoint that must agree wherever its name
// appears.
func endpointKey(e RegistryEndpoint) string {
	key := fmt.Sprintf("type=%s url=%s insecure=%t", e.endpointType(), normalURL(e.URL),
		e.Insecure)
	if c := e.Credential; c != nil {
		key += fmt.Sprintf(" access key %s, access secret from %s", c.AccessKey, c.AccessSecret)
	}
	return key
}

// validateEndpointConsistency reports endpoints of one name with different settings,
// because Harbor has a single endpoint per name. With acrossOnly it compares only
// endpoints of different projects.
func validateEndpointConsistency(projects []*Project, acrossOnly bool) []error {
	type seen struct{ project, key string }
	first := map[string]seen{}
	var errs []error
	for _, p := range projects {
		var list []RegistryEndpoint
		if p.Spec.ProxyCache != nil {
			list = append(list, p.Spec.ProxyCache.Upstream)
		}
		for _, r := range p.Spec.Replication {
			list = append(list, r.Target)
		}
		for _, e := range list {
			key := endpointKey(e)
			prior, ok := first[e.Name]
			if !ok {
				first[e.Name] = seen{p.Metadata.Name, key}
				continue
			}
			if prior.key != key && (!acrossOnly || prior.project != p.Metadata.Name) {
				errs = append(errs, invalidf("registry endpoint %s is defined twice with "+
					"different settings, in project %s as %s and in project %s as %s: "+
					"Harbor has one endpoint per name, so make them equal", e.Name,
					prior.project, prior.key, p.Metadata.Name, key))
			}
		}
	}
	return errs
}
