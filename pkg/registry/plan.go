package registry

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"
)

// pushPlan lists what a push writes, each item once, in an order the
// registry accepts: blobs, then image manifests, then nested indexes with
// children before parents, and last the manifest at the target.
//
// go-containerregistry's remote.Write checks whether each manifest exists
// with a HEAD request, by tag for the target. Harbor rejects such reads of
// an unscanned image with 412 when vulnerability prevention is on, so the
// plan walks the image itself and uses only the pusher's blob upload and
// manifest PUT.
type pushPlan struct {
	blobs   []v1.Layer
	images  []childManifest
	indexes []childManifest
	// bytes is the size of all blobs and manifests, for progress output.
	bytes int64
	seen  map[v1.Hash]bool
}

type childManifest struct {
	digest   v1.Hash
	artifact artifact
}

func planPush(a artifact) (*pushPlan, error) {
	p := &pushPlan{seen: map[v1.Hash]bool{}}
	var err error
	switch a := a.(type) {
	case v1.ImageIndex:
		err = p.addIndex(a)
	case v1.Image:
		err = p.addImage(a)
	default:
		err = fmt.Errorf("%w: %T is neither an image nor an index", ErrUnsupportedMediaType, a)
	}
	if err != nil {
		return nil, err
	}
	size, err := a.Size()
	if err != nil {
		return nil, err
	}
	p.bytes += size
	return p, nil
}

func (p *pushPlan) addImage(img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("listing layers: %w", err)
	}
	config, err := partial.ConfigLayer(img)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	for _, l := range append(layers, config) {
		if err := p.addBlob(l); err != nil {
			return err
		}
	}
	return nil
}

func (p *pushPlan) addBlob(l v1.Layer) error {
	digest, err := l.Digest()
	if err != nil {
		return fmt.Errorf("computing blob digest: %w", err)
	}
	if p.seen[digest] {
		return nil
	}
	size, err := l.Size()
	if err != nil {
		return fmt.Errorf("reading size of blob %s: %w", digest, err)
	}
	p.seen[digest] = true
	p.blobs = append(p.blobs, l)
	p.bytes += size
	return nil
}

func (p *pushPlan) addIndex(idx v1.ImageIndex) error {
	children, err := partial.Manifests(idx)
	if err != nil {
		return fmt.Errorf("reading index children: %w", err)
	}
	for _, child := range children {
		if err := p.addChild(child); err != nil {
			return err
		}
	}
	return nil
}

// addChild adds one entry of an index. Entries that are neither images nor
// indexes are uploaded as blobs, as go-containerregistry's remote.WriteIndex
// does.
func (p *pushPlan) addChild(child partial.Describable) error {
	digest, err := child.Digest()
	if err != nil {
		return fmt.Errorf("reading child digest: %w", err)
	}
	if p.seen[digest] {
		return nil
	}
	switch c := child.(type) {
	case v1.ImageIndex:
		if err := p.addIndex(c); err != nil {
			return fmt.Errorf("reading child index %s: %w", digest, err)
		}
		p.indexes = append(p.indexes, childManifest{digest: digest, artifact: c})
	case v1.Image:
		if err := p.addImage(c); err != nil {
			return fmt.Errorf("reading child image %s: %w", digest, err)
		}
		p.images = append(p.images, childManifest{digest: digest, artifact: c})
	case v1.Layer:
		return p.addBlob(c)
	default:
		return fmt.Errorf("%w: index child %s is a %T", ErrUnsupportedMediaType, digest, child)
	}
	size, err := child.Size()
	if err != nil {
		return err
	}
	p.seen[digest] = true
	p.bytes += size
	return nil
}

// push writes the plan and then top at target through pusher, with up to
// jobs requests at a time.
func (p *pushPlan) push(ctx context.Context, pusher *remote.Pusher, target name.Reference,
	top artifact, jobs int) error {
	repo := target.Context()
	err := forEach(ctx, jobs, p.blobs, func(ctx context.Context, l v1.Layer) error {
		if err := pusher.Upload(ctx, repo, l); err != nil {
			digest, _ := l.Digest()
			return fmt.Errorf("uploading blob %s: %w", digest, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	putChild := func(ctx context.Context, c childManifest) error {
		if err := pusher.Put(ctx, repo.Digest(c.digest.String()), c.artifact); err != nil {
			return fmt.Errorf("writing manifest %s: %w", c.digest, err)
		}
		return nil
	}
	if err := forEach(ctx, jobs, p.images, putChild); err != nil {
		return err
	}
	// Nested indexes go one at a time because a parent needs its children.
	if err := forEach(ctx, 1, p.indexes, putChild); err != nil {
		return err
	}
	if err := pusher.Put(ctx, target, top); err != nil {
		return fmt.Errorf("writing manifest %s: %w", target, err)
	}
	return nil
}

// forEach calls f for each item, with up to jobs calls running at a time,
// and returns the first error.
func forEach[T any](
	ctx context.Context, jobs int, items []T, f func(context.Context, T) error,
) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, item := range items {
		g.Go(func() error { return f(ctx, item) })
	}
	return g.Wait()
}
