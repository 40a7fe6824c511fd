package harbortest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// registryService is the service name of Harbor's registry in token requests.
	registryService = "harbor-registry"
	tokenIssuer     = "harbor-token-issuer"
	// tokenLifetime is Harbor's default token expiration of 30 minutes.
	tokenLifetime = 30 * time.Minute
)

// accessEntry is one grant in a registry token, in the Docker token specification's form.
type accessEntry struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

type tokenClaims struct {
	jwt.RegisteredClaims
	Access []accessEntry `json:"access"`
}

type tokenResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

// serveToken is Harbor's token service: it grants each requested scope the actions that
// the caller holds, and silently drops the others, so a push into a missing project gets a
// token without push.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.TokenRequests++
	if r.Method != http.MethodGet {
		writeError(w, newAPIError(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
			"method %s not allowed on the token service, use GET", r.Method))
		return
	}
	caller, ok := s.authenticate(r)
	if !ok {
		name, _, _ := r.BasicAuth()
		writeError(w, newAPIError(http.StatusUnauthorized, "UNAUTHORIZED",
			"authentication failed for %q: unknown user or wrong password", name))
		return
	}
	if service := r.URL.Query().Get("service"); service != registryService {
		writeError(w, newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"invalid service %q: use %q", service, registryService))
		return
	}

	scopes := parseScopes(r.URL.Query()["scope"])
	if caller.kind == anonymous && len(scopes) == 0 {
		// Harbor rejects a login attempt without credentials and without scope with 401.
		writeError(w, newAPIError(http.StatusUnauthorized, "UNAUTHORIZED",
			"authentication required"))
		return
	}
	signed, now, err := s.issueToken(caller, scopes)
	if err != nil {
		writeError(w, newAPIError(http.StatusInternalServerError, "UNKNOWN", "%v", err))
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{
		Token: signed, AccessToken: signed, ExpiresIn: int(tokenLifetime / time.Second),
		IssuedAt: now.UTC().Format(time.RFC3339),
	})
}

// parseScopes splits scope parameters, each of which may hold several space-separated
// scopes of the form type:name:actions. The name may itself contain colons.
func parseScopes(values []string) []accessEntry {
	var scopes []accessEntry
	for _, value := range values {
		for _, scope := range strings.Fields(value) {
			kind, rest, ok := strings.Cut(scope, ":")
			separator := strings.LastIndex(rest, ":")
			if !ok || separator <= 0 {
				continue
			}
			scopes = append(scopes, accessEntry{
				Type:    kind,
				Name:    rest[:separator],
				Actions: strings.Split(rest[separator+1:], ","),
			})
		}
	}
	return scopes
}

// issueToken signs a token that grants the intersection of the requested and held actions.
// The caller holds s.mu.
func (s *Server) issueToken(caller principal, scopes []accessEntry) (string, time.Time, error) {
	now := s.clock.Now()
	var granted []accessEntry
	for _, scope := range scopes {
		permitted := s.heldActions(caller, scope)
		var actions []string
		for _, action := range scope.Actions {
			if action == "*" {
				actions = append(actions, permitted...)
			} else if slices.Contains(permitted, action) {
				actions = append(actions, action)
			}
		}
		slices.Sort(actions)
		scope.Actions = slices.Compact(actions)
		if scope.Actions == nil {
			scope.Actions = []string{}
		}
		granted = append(granted, scope)
	}
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    tokenIssuer,
			Subject:   caller.name,
			Audience:  jwt.ClaimStrings{registryService},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(now.Add(tokenLifetime)),
			ID:        newUUID(),
		},
		Access: granted,
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(s.tokenKey)
	if err != nil {
		return "", now, fmt.Errorf("signing token: %w", err)
	}
	return signed, now, nil
}

// heldActions returns the actions the caller holds for a scope. Only the system
// administrator may read the catalog.
func (s *Server) heldActions(caller principal, scope accessEntry) []string {
	switch scope.Type {
	case "registry":
		if scope.Name == "catalog" && caller.kind == systemAdmin {
			return []string{"*"}
		}
	case "repository":
		projectName, _, _ := strings.Cut(scope.Name, "/")
		if p := s.store.projects[projectName]; p != nil {
			return caller.registryActions(p)
		}
	}
	return nil
}

// verifyToken checks a bearer token's signature, issuer, audience and lifetime against the
// server's clock and returns its claims.
func (s *Server) verifyToken(raw string) (*tokenClaims, error) {
	var claims tokenClaims
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithAudience(registryService),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.clock.Now),
	)
	_, err := parser.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) {
		return &s.tokenKey.PublicKey, nil
	})
	if err != nil {
		return nil, fmt.Errorf("verifying bearer token: %w", err)
	}
	return &claims, nil
}

// allows reports whether the claims grant an action on a resource.
func (c *tokenClaims) allows(kind, name, action string) bool {
	for _, entry := range c.Access {
		if entry.Type == kind && entry.Name == name &&
			(slices.Contains(entry.Actions, action) || slices.Contains(entry.Actions, "*")) {
			return true
		}
	}
	return false
}

var errNoBearer = errors.New("no bearer token")

func bearerToken(r *http.Request) (string, error) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", errNoBearer
	}
	return token, nil
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		writeError(w, newAPIError(http.StatusInternalServerError, "UNKNOWN", "%v", err))
		return
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
