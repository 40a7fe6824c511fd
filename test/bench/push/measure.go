package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// pushKey names one series of pushes.
type pushKey struct{ image, target, tool string }

// repush records one push of an image that the target already has: its wall time and
// its requests by kind.
type repush struct {
	image, target, tool string
	wall                time.Duration
	counts              map[string]int
}

// repository names the repository that tool writes image to in round.
func repository(image benchImage, tool tool, round int) string {
	return fmt.Sprintf("%s-%s-r%d", image.name, tool.name, round)
}

// measurePushes pushes each image to each target with each tool, once per round, each
// time into a new repository. The order of the tools rotates by one every round, so that
// no tool always runs first, when caches are cold, or always after a given tool.
func measurePushes(ctx context.Context, cfg config, env *environment, images []benchImage,
	tools []tool) (map[pushKey][]sample, error) {
	samples := map[pushKey][]sample{}
	for round := 1; round <= cfg.rounds; round++ {
		for _, image := range images {
			for _, t := range env.targets {
				for i := range tools {
					tl := tools[(i+round)%len(tools)]
					dst := t.host + "/" + t.repository(repository(image, tl, round)) + ":latest"
					s, err := runMeasured(cfg.child, tl.command(ctx, image.source.String(), dst, t))
					if err != nil {
						return nil, err
					}
					if err := checkPushed(ctx, dst, t, image); err != nil {
						return nil, err
					}
					key := pushKey{image.name, t.name, tl.name}
					samples[key] = append(samples[key], s)
					fmt.Fprintf(os.Stderr, "round %d: %-9s %-8s %-11s wall %7s cpu %7s\n",
						round, image.name, t.name, tl.name, s.wall.Round(time.Millisecond),
						s.cpu.Round(time.Millisecond))
				}
			}
		}
	}
	return samples, nil
}

// measureRepushes pushes each image again, with each tool but the floor, into the
// repository the tool wrote in the last round, through the target's counting proxy.
func measureRepushes(ctx context.Context, cfg config, env *environment, images []benchImage,
	tools []tool) ([]repush, error) {
	var out []repush
	for _, image := range images {
		for _, t := range env.targets {
			for _, tl := range tools {
				if tl.name == toolFloor {
					continue
				}
				repo := t.repository(repository(image, tl, cfg.rounds))
				dst := t.proxy.host + "/" + repo + ":latest"
				t.proxy.take()
				s, err := runMeasured(cfg.child, tl.command(ctx, image.source.String(), dst, t))
				if err != nil {
					return nil, err
				}
				out = append(out, repush{
					image: image.name, target: t.name, tool: tl.name,
					wall: s.wall, counts: t.proxy.take(),
				})
			}
		}
	}
	return out, nil
}
