package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/sigstore/cosign/v2/pkg/cosign"
)

// keyPassword encrypts the throwaway cosign key of a run.
const keyPassword = "pushbench"

// Names of the two ways to publish in the publish table.
const (
	publishHarborGate  = "harbor-gate publish"
	publishCraneCosign = "crane copy + cosign sign"
)

// publishFiles are the key and password files that both ways to publish read.
type publishFiles struct {
	key, keyPassword, harborPassword string
}

// measurePublish runs harbor-gate publish and crane copy followed by cosign sign of image
// into the Harbor double's project that scans on push, alternating, cfg.publishRounds
// times each. The double's scans end at once, so publish spends only the reads of the
// scan overview on the scan.
func measurePublish(ctx context.Context, cfg config, env *environment,
	image benchImage) (map[string][]sample, error) {
	files, err := writePublishFiles(env.dir)
	if err != nil {
		return nil, err
	}
	harbor := env.targets[1]
	samples := map[string][]sample{}
	for round := 1; round <= cfg.publishRounds; round++ {
		ways := []string{publishHarborGate, publishCraneCosign}
		if round%2 == 0 {
			ways[0], ways[1] = ways[1], ways[0]
		}
		for _, way := range ways {
			repo := fmt.Sprintf("%s/%s-%s-r%d", publishProject, image.name,
				map[string]string{publishHarborGate: "gate", publishCraneCosign: "cosign"}[way],
				round)
			dst := harbor.host + "/" + repo
			run := publishWithGate
			if way == publishCraneCosign {
				run = publishWithCraneCosign
			}
			s, err := run(ctx, cfg, harbor, files, image, dst)
			if err != nil {
				return nil, err
			}
			samples[way] = append(samples[way], s)
			fmt.Fprintf(os.Stderr, "publish round %d: %-24s wall %7s cpu %7s\n", round, way,
				s.wall.Round(time.Millisecond), s.cpu.Round(time.Millisecond))
		}
	}
	return samples, nil
}

// writePublishFiles writes a password-protected cosign key and the password files.
func writePublishFiles(dir string) (publishFiles, error) {
	keys, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) {
		return []byte(keyPassword), nil
	})
	if err != nil {
		return publishFiles{}, fmt.Errorf("generating a cosign key: %w", err)
	}
	files := publishFiles{
		key:            filepath.Join(dir, "cosign.key"),
		keyPassword:    filepath.Join(dir, "cosign.password"),
		harborPassword: filepath.Join(dir, "harbor.password"),
	}
	contents := map[string][]byte{
		files.key:            keys.PrivateBytes,
		files.keyPassword:    []byte(keyPassword),
		files.harborPassword: nil,
	}
	for file, data := range contents {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			return publishFiles{}, err
		}
	}
	return files, nil
}

// publishWithGate runs harbor-gate publish of image to dst, polling the scan overview
// every 50-100ms so that the instant scan adds little wait.
func publishWithGate(ctx context.Context, cfg config, harbor *target, files publishFiles,
	image benchImage, dst string) (sample, error) {
	if err := os.WriteFile(files.harborPassword, []byte(harbor.password), 0o600); err != nil {
		return sample{}, err
	}
	cmd := exec.CommandContext(ctx, cfg.harborGate, "publish",
		"--source", image.source.String(), "--target", dst+":latest",
		"--harbor-url", "http://"+harbor.host, "--username", harbor.username,
		"--password-file", files.harborPassword,
		"--key", files.key, "--key-password-file", files.keyPassword,
		"--poll-interval", "50ms", "--max-poll-interval", "100ms", "--output", "json")
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+harbor.dockerConfig)
	return runMeasured(cfg.child, cmd)
}

// publishWithCraneCosign runs crane copy of image to dst and then cosign sign of the
// pushed digest with the same key, offline, and adds up what the two processes used.
func publishWithCraneCosign(ctx context.Context, cfg config, harbor *target,
	files publishFiles, image benchImage, dst string) (sample, error) {
	env := append(os.Environ(), "DOCKER_CONFIG="+harbor.dockerConfig,
		"COSIGN_PASSWORD="+keyPassword)
	copyCmd := exec.CommandContext(ctx, cfg.crane, "copy", image.source.String(), dst+":latest")
	copyCmd.Env = env
	copied, err := runMeasured(cfg.child, copyCmd)
	if err != nil {
		return sample{}, err
	}
	signCmd := exec.CommandContext(ctx, cfg.cosign, "sign", "--key", files.key,
		"--tlog-upload=false", "--yes", dst+"@"+image.digest.String())
	signCmd.Env = env
	signed, err := runMeasured(cfg.child, signCmd)
	if err != nil {
		return sample{}, err
	}
	return sample{
		wall:   copied.wall + signed.wall,
		cpu:    copied.cpu + signed.cpu,
		maxRSS: max(copied.maxRSS, signed.maxRSS),
	}, nil
}

// printPublishTable writes the medians of both ways to publish and their ratio.
func printPublishTable(samples map[string][]sample) {
	fmt.Println("\nPublishing to the Harbor double (scan on push, scans end at once): " +
		"medians, with min-max in brackets.")
	fmt.Println()
	fmt.Println("| command | n | wall time | CPU time (user+sys) | peak RSS | " +
		"wall / crane+cosign |")
	fmt.Println("| --- | --- | --- | --- | --- | --- |")
	base := spreadOf(field(samples[publishCraneCosign], wallOf)).median
	for _, way := range []string{publishHarborGate, publishCraneCosign} {
		s := samples[way]
		wall := spreadOf(field(s, wallOf))
		fmt.Printf("| %s | %d | %s | %s | %.0f MiB | %s |\n", way, len(s), wall.seconds(),
			spreadOf(field(s, cpuOf)).seconds(), spreadOf(field(s, rssOf)).median,
			ratio(wall.median, base))
	}
}
