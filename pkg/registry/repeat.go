package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TagLookup reports whether tag in the repository of digest points at digest. Harbor
// rejects manifest reads by tag with HTTP 412 under its vulnerability prevention, so a
// TagLookup should ask Harbor's API for the artifact by digest and look for tag among the
// artifact's tags. It returns false and no error when the repository has no such artifact.
type TagLookup func(ctx context.Context, digest name.Digest, tag string) (bool, error)

// manifestState is the outcome of the HEAD request by digest for the source's manifest in
// the target repository.
type manifestState int

const (
	// manifestMissing means that the registry did not confirm the manifest.
	manifestMissing manifestState = iota
	// manifestStored means that the registry returned 200 with the digest.
	manifestStored
	// manifestBlocked means that Harbor returned 412 because a pull policy, such as
	// vulnerability prevention, blocks the artifact. The repository has the manifest.
	manifestBlocked
)

// priorPush is the state of the target repository before pushPlanned wrote anything.
type priorPush struct {
	// stored reports that the repository already had the manifest and hence its blobs.
	stored bool
	// pushed reports that target already named the manifest, so nothing was written.
	pushed bool
}

// checkPriorPush reports what the repository already has of the manifest with digest. A
// digest target is already pushed when the HEAD request found the manifest. A tag target
// is when the WithTagLookup function finds the tag at the digest. Without that function
// Push cannot tell without reading the manifest by tag, so it writes the manifest again.
func checkPriorPush(ctx context.Context, state manifestState, target name.Reference,
	digest v1.Hash, o *options) (priorPush, error) {
	prior := priorPush{stored: state == manifestStored}
	if state == manifestMissing {
		return prior, nil
	}
	switch t := target.(type) {
	case name.Digest:
		prior.pushed = state == manifestStored
	case name.Tag:
		pushed, err := lookupTag(ctx, t, digest, o)
		if err != nil {
			return priorPush{}, err
		}
		prior.pushed = pushed
	}
	// A blocked manifest whose tag is in place is stored as well, so no blob was sent.
	prior.stored = prior.stored || prior.pushed
	return prior, nil
}

// lookupTag calls the WithTagLookup function, or returns false without one.
func lookupTag(ctx context.Context, tag name.Tag, digest v1.Hash, o *options) (bool, error) {
	if o.tagLookup == nil {
		return false, nil
	}
	found, err := o.tagLookup(ctx, tag.Context().Digest(digest.String()), tag.TagStr())
	if err != nil {
		return false, fmt.Errorf("checking whether tag %s points at %s: %w", tag, digest, err)
	}
	return found, nil
}

// checkRejectedPut checks whether err, the classified error of a push to target, rejected
// a manifest PUT that the registry had already stored. An immutable tag rule rejects every
// PUT to an existing tag, even of the same manifest. So when go-containerregistry sends a
// manifest PUT again because the response to a stored PUT was lost, Harbor rejects the
// second PUT with 412. When err is that rejection and the WithTagLookup function finds the
// tag at digest, checkRejectedPut returns true and nil, because the image was stored.
// Otherwise it returns false and err, joined with the lookup's error if the lookup failed.
func checkRejectedPut(ctx context.Context, err error, target name.Reference,
	digest v1.Hash, o *options) (bool, error) {
	tag, isTag := target.(name.Tag)
	var rejection *PolicyError
	if !isTag || o.tagLookup == nil || !errors.As(err, &rejection) || !rejection.Immutable() ||
		rejection.Method != http.MethodPut ||
		!strings.HasSuffix(rejection.URL, "/manifests/"+tag.TagStr()) {
		return false, err
	}
	found, lookupErr := lookupTag(ctx, tag, digest, o)
	if lookupErr != nil {
		return false, fmt.Errorf("%w, and %w", err, lookupErr)
	}
	if !found {
		return false, err
	}
	return true, nil
}
