// Command push measures how fast harbor-gate pushes an image, side by side with crane copy,
// skopeo copy and a floor of plain HTTP uploads, and how much longer harbor-gate publish
// takes than crane copy followed by cosign sign.
//
// The source is a Distribution registry process (Debian's docker-registry package) on
// loopback. The targets are a second such process and the Harbor double of pkg/harbortest,
// served from this process. Every tool runs as a child process, harbor-gate's push and the
// floor too (through the helper binary built from ./child), so that wall time, CPU time
// (user plus system) and peak RSS come from the same place: the child's rusage. Each round pushes each
// image to each target once with every tool, in an order that rotates between rounds, into
// a repository of its own. Then each tool pushes the same image once more into the
// repository it wrote last, through a counting proxy, which reports the blob uploads and
// HTTP requests of a push that has nothing to do.
//
// hack/bench/push.sh installs and builds what this needs and runs it:
//
//	hack/bench/push.sh -rounds 5
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	var cfg config
	flag.IntVar(&cfg.rounds, "rounds", 5, "pushes of each image to each target per tool")
	flag.IntVar(&cfg.publishRounds, "publish-rounds", 5,
		"runs of harbor-gate publish and of crane copy plus cosign sign")
	flag.StringVar(&cfg.rootfs, "rootfs", "",
		"tar of a Debian root file system, the first image (empty: leave it out)")
	flag.IntVar(&cfg.syntheticMiB, "synthetic-mib", 256,
		"MiB of random data in the synthetic image (0: leave it out)")
	flag.IntVar(&cfg.syntheticLayers, "synthetic-layers", 10, "layers of the synthetic image")
	flag.StringVar(&cfg.registry, "registry", "docker-registry",
		"Distribution registry binary for the source and the second target")
	flag.StringVar(&cfg.child, "child", "",
		"helper binary built from ./test/bench/push/child (required)")
	flag.StringVar(&cfg.crane, "crane", "crane", "crane binary")
	flag.StringVar(&cfg.skopeo, "skopeo", "skopeo", "skopeo binary")
	flag.StringVar(&cfg.cosign, "cosign", "", "cosign binary (empty: skip the publish part)")
	flag.StringVar(&cfg.harborGate, "harbor-gate", "",
		"harbor-gate binary for the publish part (empty: skip it)")
	flag.StringVar(&cfg.tools, "tools", "harbor-gate,crane,skopeo,floor",
		"comma-separated tools to compare: harbor-gate, crane, skopeo, floor")
	flag.StringVar(&cfg.profileDir, "cpuprofile-dir", "",
		"folder for a CPU profile of each harbor-gate push (empty: no profiles)")
	flag.DurationVar(&cfg.timeout, "timeout", 30*time.Minute, "time limit of the whole run")
	flag.Parse()

	if cfg.child == "" {
		fmt.Fprintln(os.Stderr, "push: missing -child: build ./test/bench/push/child and "+
			"pass its path, or run hack/bench/push.sh")
		os.Exit(2)
	}
	if cfg.rounds < 1 || cfg.syntheticLayers < 1 || cfg.syntheticMiB < 0 {
		fmt.Fprintln(os.Stderr, "push: -rounds and -synthetic-layers must be at least 1, "+
			"-synthetic-mib at least 0")
		os.Exit(2)
	}

	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "push: %v\n", err)
		os.Exit(1)
	}
}

// config holds the command-line settings.
type config struct {
	rounds, publishRounds          int
	rootfs                         string
	syntheticMiB, syntheticLayers  int
	child, registry, crane, skopeo string
	cosign, harborGate             string
	tools, profileDir              string
	timeout                        time.Duration
}

// run starts the registries, writes the images to the source and measures.
func run(ctx context.Context, cfg config) error {
	start := time.Now()
	env, err := startEnvironment(ctx, cfg)
	if err != nil {
		return err
	}
	defer env.close()
	images, err := prepareImages(ctx, cfg, env.source)
	if err != nil {
		return err
	}

	tools := benchTools(cfg, env)
	samples, err := measurePushes(ctx, cfg, env, images, tools)
	if err != nil {
		return err
	}
	repushes, err := measureRepushes(ctx, cfg, env, images, tools)
	if err != nil {
		return err
	}

	printMachine()
	printPushTable(samples, images, env.targets, tools)
	printRepushTable(repushes)
	if cfg.cosign != "" && cfg.harborGate != "" {
		publishes, err := measurePublish(ctx, cfg, env, images[0])
		if err != nil {
			return err
		}
		printPublishTable(publishes)
	}
	fmt.Printf("\nTotal run time: %s\n", time.Since(start).Round(time.Second))
	return nil
}
