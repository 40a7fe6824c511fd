package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Result describes a finished push.
type Result struct {
	// Digest is the reference of the pushed manifest: the target repository
	// at the digest from the Docker-Content-Digest header of the manifest
	// PUT response. When the registry sent no such header it is the digest
	// computed from the manifest bytes, and DigestConfirmed is false. When
	// AlreadyPushed is set it is the source's digest.
	Digest name.Digest
	// DigestConfirmed reports whether the registry returned the digest: in the
	// manifest PUT response, or, when AlreadyPushed is set, in the response to
	// the HEAD request or through the WithTagLookup function.
	DigestConfirmed bool
	// AlreadyPushed reports that the target already named the source's
	// manifest, so that Push wrote no manifest, or that an immutable tag rule
	// rejected a repeated manifest PUT after the registry had stored the
	// first. A digest target is already pushed when the registry has the
	// manifest. A tag target is when the WithTagLookup function finds the tag
	// at the digest.
	AlreadyPushed bool
	// MediaType is the media type of the pushed manifest.
	MediaType types.MediaType
	// Size is the size of the pushed manifest in bytes.
	Size int64
	// Tag is the tag the image was pushed to, or "" for a push by digest.
	Tag string
	// Children are the manifests an index lists, with their platforms,
	// or nil when the pushed manifest is an image.
	Children []v1.Descriptor
	// Platforms are the children that are platform images: image
	// manifests whose platform is known and that carry no in-toto layer.
	// Attestation manifests, which BuildKit lists with the platform
	// unknown/unknown, are left out. It is nil for an image.
	Platforms []v1.Descriptor
	// BlobsUploaded counts the layers and configs sent to the registry.
	BlobsUploaded int
	// BlobsMounted counts the blobs the registry mounted from another
	// repository on the same registry instead of receiving them.
	BlobsMounted int
	// BlobsSkipped counts the blobs the target repository already had.
	BlobsSkipped int
}

// Push copies src to target and returns what the registry stored.
//
// A name.Tag target pushes the image under that tag. A name.Digest target,
// such as src.DigestIn(repo), pushes it without a tag and must carry the
// source's digest. Push first sends one HEAD request for the source's
// manifest by digest. When the target already names that manifest, Push
// writes nothing (see Result.AlreadyPushed and WithTagLookup). When the
// target repository only has it, Push writes the manifest at target again,
// which sets the tag. Otherwise blobs the target already has are skipped
// (checked with HEAD), blobs of a registry source on the same registry are
// mounted, and the others are streamed from the source, up to WithJobs at
// a time. Then the manifests are written with PUT, the children of an index
// first, each with its original bytes and media type. Any response to the
// HEAD but 200 with the digest, such as Harbor's 412 for an unscanned image
// under its vulnerability policy, makes Push check each blob. Push reads no
// manifest by tag. The one exception is a manifest with a subject field on
// a registry without the referrers API: go-containerregistry then reads
// and updates the referrers fallback tag. Push returns an error wrapping
// ErrDigestMismatch when the registry reports a digest that differs from
// the source's digest. It returns a *PolicyError when Harbor refused a
// request with HTTP 412, such as a manifest PUT to an immutable tag, unless
// the WithTagLookup function shows that the tag already points at the
// source's digest.
func Push(
	ctx context.Context, src *Source, target name.Reference, opts ...Option,
) (*Result, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if src == nil || src.artifact == nil {
		return nil, errors.New("pushing: no source: call Open first")
	}
	target, err = resolveTarget(target, src, o)
	if err != nil {
		return nil, err
	}
	plan, err := planPush(src.artifact)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", src, err)
	}
	recorder := newPushRecorder(o.transport, target.Context().RepositoryStr())
	prior, err := pushPlanned(ctx, plan, src, target, recorder, o)
	if err != nil {
		prior.pushed, err = checkRejectedPut(ctx, ClassifyError(err), target, src.digest, o)
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w: %w", ctxErr, err)
		}
		return nil, fmt.Errorf("pushing %s to %s: %w", src, target, err)
	}
	res, err := newResult(src, target, recorder, prior.pushed)
	if err != nil {
		return nil, err
	}
	if prior.stored {
		res.BlobsSkipped = len(plan.blobs)
	}
	return res, nil
}

// resolveTarget checks target against src and applies WithInsecure to it.
func resolveTarget(target name.Reference, src *Source, o *options) (name.Reference, error) {
	if target == nil {
		return nil, errors.New("pushing: no target reference")
	}
	if o.insecure {
		var err error
		target, err = name.ParseReference(target.Name(), o.nameOptions()...)
		if err != nil {
			return nil, fmt.Errorf("parsing target %s: %w", target, err)
		}
	}
	switch t := target.(type) {
	case name.Tag:
		return t, nil
	case name.Digest:
		if t.DigestStr() != src.digest.String() {
			return nil, fmt.Errorf("%w: target %s names another digest than source %s (%s); "+
				"push to a tag or to the source's digest", ErrDigestMismatch, t, src, src.digest)
		}
		return t, nil
	}
	return nil, fmt.Errorf("pushing: target %s is a %T, not a name.Tag or name.Digest", target, target)
}

// pushPlanned writes the plan to target, only the top manifest when the target
// repository already has it, or nothing when target already names it. It reports what
// the repository had before.
func pushPlanned(ctx context.Context, plan *pushPlan, src *Source, target name.Reference,
	recorder *pushRecorder, o *options) (priorPush, error) {
	tr, err := o.targetTransport(ctx, target.Context(), recorder)
	if err != nil {
		return priorPush{}, err
	}
	state, err := findManifest(ctx, tr, target.Context(), src.digest)
	if err != nil {
		return priorPush{}, err
	}
	prior, err := checkPriorPush(ctx, state, target, src.digest, o)
	if err != nil || prior.pushed {
		return prior, err
	}
	if prior.stored {
		plan = &pushPlan{}
	}
	ropts := []remote.Option{remote.WithTransport(tr), remote.WithJobs(o.jobs)}
	if o.progress != nil {
		updates := make(chan v1.Update, 16)
		finished := make(chan struct{})
		printer := newProgressPrinter(o.progress, o.now, target.Name(), plan.bytes)
		go printer.run(updates, finished)
		defer func() {
			close(updates)
			<-finished
		}()
		ropts = append(ropts, remote.WithProgress(updates))
	}
	pusher, err := remote.NewPusher(ropts...)
	if err != nil {
		return priorPush{}, err
	}
	return prior, plan.push(ctx, pusher, target, src.artifact, o.jobs)
}

// newResult describes the push of src to target. pushed is priorPush.pushed.
func newResult(src *Source, target name.Reference, recorder *pushRecorder,
	pushed bool) (*Result, error) {
	digest, confirmed := src.digest, true
	if !pushed {
		var err error
		if digest, confirmed, err = registryDigest(src, target, recorder); err != nil {
			return nil, fmt.Errorf("pushing %s to %s: %w", src, target, err)
		}
	}
	raw, err := src.artifact.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest of %s: %w", src, err)
	}
	res := &Result{
		Digest:          target.Context().Digest(digest.String()),
		DigestConfirmed: confirmed,
		AlreadyPushed:   pushed,
		MediaType:       src.mediaType,
		Size:            int64(len(raw)),
	}
	if tag, ok := target.(name.Tag); ok {
		res.Tag = tag.TagStr()
	}
	if idx, ok := src.artifact.(v1.ImageIndex); ok {
		m, err := idx.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("reading index of %s: %w", src, err)
		}
		res.Children = m.Manifests
		if res.Platforms, err = platformImages(idx); err != nil {
			return nil, fmt.Errorf("reading index of %s: %w", src, err)
		}
	}
	counts := recorder.blobCounts()
	res.BlobsUploaded, res.BlobsMounted, res.BlobsSkipped =
		counts.uploaded, counts.mounted, counts.skipped
	return res, nil
}

// registryDigest returns the digest from the Docker-Content-Digest header
// of the manifest PUT at target and true. Without that header it returns
// the source's computed digest and false.
func registryDigest(
	src *Source, target name.Reference, recorder *pushRecorder,
) (v1.Hash, bool, error) {
	resp, ok := recorder.manifest(target.Identifier())
	if !ok {
		return v1.Hash{}, false, errors.New("no successful manifest PUT was recorded")
	}
	if resp.digest == "" {
		return src.digest, false, nil
	}
	got, err := v1.NewHash(resp.digest)
	if err != nil {
		return v1.Hash{}, false, fmt.Errorf("registry returned an invalid "+
			"Docker-Content-Digest %q: %w", resp.digest, err)
	}
	if got != src.digest {
		return v1.Hash{}, false, fmt.Errorf("%w: registry stored the manifest as %s, "+
			"but the manifest sent has digest %s; a proxy or the registry changed it",
			ErrDigestMismatch, got, src.digest)
	}
	return got, true, nil
}
