package gate

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/druppie/harbor-gate/pkg/signing"
)

// Values of Options.SignatureFormat.
const (
	// SignatureFormatAuto lets the run choose by the Harbor version; see
	// chooseSignatureFormat.
	SignatureFormatAuto = ""
	// SignatureFormatTag stores signatures under cosign's sha256-<hex>.sig tag.
	SignatureFormatTag = string(signing.FormatTag)
	// SignatureFormatReferrers stores each signature as an untagged OCI 1.1 referrer.
	SignatureFormatReferrers = string(signing.FormatReferrers)
)

// referrersSince is the first Harbor release for which auto picks the referrers format:
// Harbor 2.15.0 records every form of cosign signature that is stored as a referrer,
// cosign v3's bundle format included (goharbor/harbor PR 22628), as signature.cosign.
var referrersSince = [2]int{2, 15}

// chooseSignatureFormat returns the format to sign in: the caller's choice, or for
// SignatureFormatAuto one chosen by the version Harbor reports. Harbor v2.13 already
// recognises both formats as signature.cosign, but only the tag scheme is read by default
// by cosign verify and by admission controllers built on it, so the tag scheme stays the
// choice up to Harbor 2.14 and for any version that cannot be read, such as the empty
// version Harbor reports to anonymous callers.
func chooseSignatureFormat(choice, harborVersion string) signing.Format {
	if choice != SignatureFormatAuto {
		return signing.Format(choice)
	}
	major, minor, ok := parseHarborVersion(harborVersion)
	if ok && (major > referrersSince[0] ||
		major == referrersSince[0] && minor >= referrersSince[1]) {
		return signing.FormatReferrers
	}
	return signing.FormatTag
}

// parseHarborVersion reads the major and minor release from Harbor's
// "v<major>.<minor>.<patch>-<commit>" version string.
func parseHarborVersion(version string) (int, int, bool) {
	release, _, _ := strings.Cut(strings.TrimPrefix(version, "v"), "-")
	parts := strings.Split(release, ".")
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, errMajor := strconv.Atoi(parts[0])
	minor, errMinor := strconv.Atoi(parts[1])
	return major, minor, errMajor == nil && errMinor == nil
}

// checkSignatureFormat rejects an Options.SignatureFormat that is not one of the three.
func checkSignatureFormat(format string) error {
	switch format {
	case SignatureFormatAuto, SignatureFormatTag, SignatureFormatReferrers:
		return nil
	}
	return fmt.Errorf("invalid signature format %q: use %q, %q or an empty string to "+
		"choose by the Harbor version", format, SignatureFormatTag, SignatureFormatReferrers)
}

// readHarborFacts returns what the run needs from Harbor's system information: the
// version, and Harbor's current time to the millisecond, as Harbor's API writes times,
// from which a scan report counts as newer than the push. Both are empty for callers Harbor treats as anonymous.
func (g *Gate) readHarborFacts(ctx context.Context) (string, time.Time, error) {
	info, err := g.harbor.SystemInfo(ctx)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("reading Harbor's system information: %w", err)
	}
	var version string
	var now time.Time
	if info.HarborVersion != nil {
		version = *info.HarborVersion
	}
	if info.CurrentTime != nil {
		now = time.Time(*info.CurrentTime).Truncate(time.Millisecond)
	}
	return version, now, nil
}
