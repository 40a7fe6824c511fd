package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Tool names, also the column order of the tables.
const (
	toolHarborGate = "harbor-gate"
	toolCrane      = "crane"
	toolSkopeo     = "skopeo"
	toolFloor      = "floor"
)

// Environment variables that pass the target's credentials and the profile file to the
// helper binary's push and floor modes.
const (
	envUsername   = "PUSHBENCH_USERNAME"
	envPassword   = "PUSHBENCH_PASSWORD"
	envCPUProfile = "PUSHBENCH_CPUPROFILE"
)

// tool is a program that copies an image from the source registry to a target.
type tool struct {
	name string
	// command returns the command that copies src to dst, a reference on t.
	command func(ctx context.Context, src, dst string, t *target) *exec.Cmd
}

// sample is what one child process used.
type sample struct {
	wall, cpu time.Duration
	// maxRSS is the peak resident set size in bytes.
	maxRSS int64
}

// benchTools returns the tools of cfg.tools: harbor-gate, crane, skopeo and the floor.
func benchTools(cfg config, env *environment) []tool {
	child := func(mode string) func(context.Context, string, string, *target) *exec.Cmd {
		return func(ctx context.Context, src, dst string, t *target) *exec.Cmd {
			cmd := exec.CommandContext(ctx, cfg.child, mode, src, dst)
			cmd.Env = append(os.Environ(), envUsername+"="+t.username, envPassword+"="+t.password)
			return cmd
		}
	}
	harborGate := child("push")
	if cfg.profileDir != "" {
		harborGate = func(ctx context.Context, src, dst string, t *target) *exec.Cmd {
			cmd := child("push")(ctx, src, dst, t)
			file := filepath.Join(cfg.profileDir, fmt.Sprintf("%s-%d.pprof", t.name,
				time.Now().UnixNano()))
			cmd.Env = append(cmd.Env, envCPUProfile+"="+file)
			return cmd
		}
	}
	all := []tool{
		{name: toolHarborGate, command: harborGate},
		{name: toolCrane, command: func(ctx context.Context, src, dst string, t *target) *exec.Cmd {
			cmd := exec.CommandContext(ctx, cfg.crane, "copy", src, dst)
			cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.dockerConfig)
			return cmd
		}},
		{name: toolSkopeo, command: func(ctx context.Context, src, dst string, t *target) *exec.Cmd {
			return skopeoCommand(ctx, cfg.skopeo, env.dir, src, dst, t)
		}},
		{name: toolFloor, command: child("floor")},
	}
	var chosen []tool
	for _, tl := range all {
		if slices.Contains(strings.Split(cfg.tools, ","), tl.name) {
			chosen = append(chosen, tl)
		}
	}
	return chosen
}

// skopeoCommand returns skopeo copy from src to dst with an empty blob-info cache. skopeo
// (containers/image) remembers in that cache where it saw each blob and then mounts blobs
// from earlier repositories instead of uploading them. Run as root, skopeo 1.9 keeps the
// cache in /var/lib/containers/cache, so the command runs in a mount namespace of its own
// with an empty tmpfs there. Other users keep it under $XDG_DATA_HOME, which is set to an
// empty folder.
func skopeoCommand(ctx context.Context, skopeo, dir, src, dst string, t *target) *exec.Cmd {
	args := []string{"copy", "--retry-times=0",
		"--src-tls-verify=false", "--dest-tls-verify=false"}
	if t.username != "" {
		args = append(args, "--dest-creds="+t.username+":"+t.password)
	}
	args = append(args, "docker://"+src, "docker://"+dst)
	if os.Geteuid() != 0 {
		data, _ := os.MkdirTemp(dir, "skopeo-")
		cmd := exec.CommandContext(ctx, skopeo, args...)
		cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+data)
		return cmd
	}
	const cache = "/var/lib/containers/cache"
	script := `mkdir -p ` + cache + ` && mount -t tmpfs tmpfs ` + cache + ` && exec "$0" "$@"`
	args = append([]string{"--mount", "--propagation", "private", "sh", "-c", script, skopeo},
		args...)
	return exec.CommandContext(ctx, "unshare", args...)
}

// checkPushed checks that dst on t holds the manifest with want's digest.
func checkPushed(ctx context.Context, dst string, t *target, want benchImage) error {
	ref, err := name.ParseReference(dst)
	if err != nil {
		return err
	}
	auth := authn.Anonymous
	if t.username != "" {
		auth = &authn.Basic{Username: t.username, Password: t.password}
	}
	desc, err := remote.Head(ref, remote.WithContext(ctx), remote.WithAuth(auth))
	if err != nil {
		return fmt.Errorf("checking %s: %w", dst, err)
	}
	if desc.Digest != want.digest {
		return fmt.Errorf("checking %s: digest %s, want %s: the tool changed the manifest",
			dst, desc.Digest, want.digest)
	}
	return nil
}
