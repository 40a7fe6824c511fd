package v1alpha1

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"knative.dev/pkg/apis"
)

const urlHint = "use an absolute http or https URL such as https://registry.druppie.local"

// validateHTTPURL checks that raw is an absolute http or https URL without
// user info, query or fragment. Messages show the URL with its password
// replaced and its query and fragment left out, because both may carry a
// credential that must not reach an error message.
func validateHTTPURL(raw string) *apis.FieldError {
	u, err := url.Parse(raw)
	if err != nil {
		return apis.ErrInvalidValue(redactUnparsable(raw), apis.CurrentField, urlHint)
	}
	display := displayURL(*u)
	switch {
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return apis.ErrInvalidValue(display, apis.CurrentField, urlHint)
	case !validHost(u.Hostname()):
		// display escapes the host's control and bidirectional characters.
		return apis.ErrInvalidValue(display, apis.CurrentField,
			"the host must be a DNS name or an IP address; "+urlHint)
	case u.User != nil:
		return apis.ErrInvalidValue(display, apis.CurrentField,
			"remove the user info: credentials belong in a Secret")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return apis.ErrInvalidValue(display, apis.CurrentField,
			"remove the query and fragment: use the base URL only")
	}
	return nil
}

// validHost reports whether host is an IP address or a DNS name, ignoring case. It rejects
// hosts that url.Parse lets through, such as ones with spaces or bidirectional overrides.
func validHost(host string) bool {
	if net.ParseIP(host) != nil {
		return true
	}
	return len(validation.IsDNS1123Subdomain(strings.ToLower(host))) == 0
}

// displayURL returns u with its password replaced and its query and
// fragment marked as removed.
func displayURL(u url.URL) string {
	hidden := u.RawQuery != "" || u.ForceQuery || u.Fragment != ""
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	if hidden {
		return u.Redacted() + "?(query or fragment not shown)"
	}
	return u.Redacted()
}

// redactUnparsable returns raw, or a placeholder when raw may hold user
// info that url.Parse could not separate from the rest.
func redactUnparsable(raw string) string {
	if strings.Contains(raw, "@") {
		return "(not shown: it contains '@' and may hold credentials)"
	}
	return raw
}

// validateCABundle checks that bundle holds at least one PEM block and
// that every block is an X.509 certificate. Messages name blocks by
// position and type and never echo their content, in case a private key
// was pasted by mistake.
func validateCABundle(bundle string) *apis.FieldError {
	rest := []byte(bundle)
	count := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		count++
		if block.Type != "CERTIFICATE" {
			return apis.ErrGeneric(fmt.Sprintf(
				"invalid value: PEM block %d is of type %q, not CERTIFICATE", count, block.Type),
				apis.CurrentField)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return apis.ErrGeneric(fmt.Sprintf(
				"invalid value: PEM block %d is not a valid X.509 certificate: %v", count, err),
				apis.CurrentField)
		}
	}
	if count == 0 {
		fe := apis.ErrGeneric("invalid value: no PEM certificate found", apis.CurrentField)
		fe.Details = "paste the CA certificates as PEM, each starting with " +
			"-----BEGIN CERTIFICATE-----"
		return fe
	}
	return nil
}
