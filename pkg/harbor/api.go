package harbor

import "github.com/goharbor/go-client/pkg/sdk/v2.0/client"

// NewAPI validates cfg as NewClient does and returns the go-client for Harbor's v2.0 API
// that a Client uses: the same transport, TLS settings, User-Agent header and HTTP Basic
// authentication, without a cookie jar. It is meant for callers that need API groups that
// Client does not wrap, such as projects, robots, registries and replication policies.
// It sends no request.
//
// Config.Timeout does not apply to the returned API, because go-client takes a timeout
// per request: each request's params carry it, and go-client's New...Params constructors
// default to go-openapi's client.DefaultTimeout of 30 seconds.
func NewAPI(cfg Config) (*client.HarborAPI, error) {
	c, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	return c.api, nil
}
