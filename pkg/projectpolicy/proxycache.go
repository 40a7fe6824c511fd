package projectpolicy

import (
	"fmt"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// checkProxyCache returns an error wrapping ErrProxyCache when Harbor's project cannot
// become what spec.proxyCache describes. Harbor sets a project's registry_id only when
// it creates the project, so a normal project cannot turn into a proxy cache, and a proxy
// cache cannot switch to another upstream endpoint. A project without spec.proxyCache
// leaves the setting alone.
func checkProxyCache(p *Project, current *models.Project,
	registries map[string]*models.Registry) error {
	pc := p.Spec.ProxyCache
	if pc == nil || current == nil {
		return nil
	}
	name, upstream := p.Metadata.Name, pc.Upstream.Name
	if current.RegistryID == 0 {
		return fmt.Errorf("%w: project %s exists as a normal project, and Harbor cannot "+
			"turn an existing project into a proxy cache of %s: delete the project in "+
			"Harbor first, or give the proxy cache another metadata.name", ErrProxyCache,
			name, upstream)
	}
	if r := registries[upstream]; r == nil || r.ID != current.RegistryID {
		return fmt.Errorf("%w: project %s is a proxy cache of registry id %d, not of "+
			"registry %s, and Harbor cannot change the upstream of a proxy cache: set "+
			"proxyCache.upstream to that endpoint, or delete the project in Harbor first",
			ErrProxyCache, name, current.RegistryID, upstream)
	}
	return nil
}
