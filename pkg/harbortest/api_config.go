package harbortest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// configAuthModes are the values Harbor v2.13 accepts for auth_mode.
var configAuthModes = []string{"db_auth", "ldap_auth", "oidc_auth", "http_auth", "uaa_auth"}

// configSecrets are password settings, which GET /configurations never returns.
var configSecrets = map[string]bool{
	"oidc_client_secret": true, "uaa_client_secret": true, "ldap_search_password": true,
}

// configKinds maps each key of go-client's Configurations model to its JSON kind:
// reflect.String, reflect.Bool or reflect.Int64.
var configKinds = jsonKinds(reflect.TypeFor[models.Configurations]())

// configResponseKeys are the keys of go-client's ConfigurationsResponse model.
var configResponseKeys = jsonKinds(reflect.TypeFor[models.ConfigurationsResponse]())

func jsonKinds(t reflect.Type) map[string]reflect.Kind {
	kinds := map[string]reflect.Kind{}
	for i := range t.NumField() {
		field := t.Field(i)
		name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		kind := field.Type.Kind()
		if kind == reflect.Pointer {
			kind = field.Type.Elem().Kind()
		}
		kinds[name] = kind
	}
	return kinds
}

// defaultConfiguration returns the settings of a fresh Harbor v2.13 with database
// authentication and no OIDC provider.
func defaultConfiguration() map[string]any {
	return map[string]any{
		"auth_mode": "db_auth", "primary_auth_mode": false, "self_registration": false,
		"project_creation_restriction": "everyone", "read_only": false,
		"notification_enable": true, "quota_per_project_enable": true,
		"robot_name_prefix": robotPrefix, "robot_token_duration": int64(30),
		"token_expiration": int64(30), "session_timeout": int64(60),
		"storage_per_project": int64(-1), "oidc_name": "", "oidc_endpoint": "",
		"oidc_client_id": "", "oidc_client_secret": "", "oidc_groups_claim": "",
		"oidc_admin_group": "", "oidc_group_filter": "", "oidc_scope": "",
		"oidc_user_claim": "", "oidc_verify_cert": true, "oidc_auto_onboard": false,
		"oidc_extra_redirect_parms": "", "oidc_logout": false,
	}
}

// getConfigurations serves GET /configurations to the system administrator: every
// setting as {"editable":true,"value":...}, except passwords.
func (c *apiCall) getConfigurations() *apiError {
	if c.caller.kind != systemAdmin {
		return c.deny()
	}
	response := map[string]any{}
	for key, value := range c.s.configuration {
		if configSecrets[key] {
			continue
		}
		if _, ok := configResponseKeys[key]; !ok {
			continue
		}
		response[key] = map[string]any{"editable": true, "value": value}
	}
	writeJSON(c.w, http.StatusOK, response)
	return nil
}

// putConfigurations serves PUT /configurations for the system administrator. Every key
// must be a setting of the Configurations model with a value of its type, and auth_mode
// one of Harbor's modes. Nothing is stored unless the whole body is valid.
func (c *apiCall) putConfigurations() *apiError {
	if c.caller.kind != systemAdmin {
		return c.deny()
	}
	body := map[string]json.RawMessage{}
	if apiErr := c.decodeBody(&body); apiErr != nil {
		return apiErr
	}
	updates, err := parseConfiguration(body)
	if err != nil {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST", "%v", err)
	}
	maps.Copy(c.s.configuration, updates)
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func parseConfiguration(body map[string]json.RawMessage) (map[string]any, error) {
	updates := map[string]any{}
	for key, raw := range body {
		kind, ok := configKinds[key]
		if !ok {
			return nil, fmt.Errorf("invalid configuration key %q: not a Harbor setting", key)
		}
		var err error
		switch kind {
		case reflect.String:
			var value string
			err = json.Unmarshal(raw, &value)
			updates[key] = value
		case reflect.Bool:
			var value bool
			err = json.Unmarshal(raw, &value)
			updates[key] = value
		default:
			var value int64
			err = json.Unmarshal(raw, &value)
			updates[key] = value
		}
		if err != nil {
			return nil, fmt.Errorf("invalid value %s for configuration %s: want a %s", raw,
				key, kind)
		}
	}
	if mode, ok := updates["auth_mode"].(string); ok && !slices.Contains(configAuthModes, mode) {
		return nil, fmt.Errorf("invalid auth_mode %q: use one of %s", mode,
			strings.Join(configAuthModes, ", "))
	}
	return updates, nil
}

// ConfigValue returns a system setting as PUT /configurations stored it, formatted as a
// string, and whether it is set. Unlike GET /configurations it also returns passwords
// such as oidc_client_secret, so that tests can check what a client sent.
func (s *Server) ConfigValue(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	value, ok := s.configuration[key]
	if !ok {
		return "", false
	}
	switch typed := value.(type) {
	case string:
		return typed, true
	case bool:
		return strconv.FormatBool(typed), true
	case int64:
		return strconv.FormatInt(typed, 10), true
	}
	return fmt.Sprint(value), true
}
