package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// usage is what "child measure" writes: the sample in nanoseconds and bytes.
type usage struct {
	WallNanos int64 `json:"wall_ns"`
	CPUNanos  int64 `json:"cpu_ns"`
	MaxRSS    int64 `json:"max_rss_bytes"`
}

// runMeasured runs cmd through "child measure", with child the path of the helper binary,
// and returns the wall time, CPU time and peak RSS of cmd alone.
//
// The detour keeps the peak RSS true. Go starts a child with vfork semantics, so until
// the exec the child shares this process's memory, and Linux counts the peak RSS of that
// memory into the child's ru_maxrss. Started directly from this process, which holds the
// images and the Harbor double, every tool would report at least this process's peak. The
// helper is a fresh small process, so only its few MiB are counted in.
func runMeasured(child string, cmd *exec.Cmd) (sample, error) {
	wrapper := exec.Command(child, append([]string{"measure", cmd.Path}, cmd.Args[1:]...)...)
	wrapper.Env = cmd.Env
	var stdout, stderr bytes.Buffer
	wrapper.Stdout, wrapper.Stderr = &stdout, &stderr
	if os.Getenv("PUSHBENCH_DEBUG") != "" {
		// The helper then writes go-containerregistry's debug log, worth seeing.
		wrapper.Stderr = io.MultiWriter(&stderr, os.Stderr)
	}
	if err := wrapper.Run(); err != nil {
		return sample{}, fmt.Errorf("running %s: %w\n%s", cmd, err, stderr.Bytes())
	}
	var u usage
	if err := json.Unmarshal(stdout.Bytes(), &u); err != nil {
		return sample{}, fmt.Errorf("reading the usage of %s: %w", cmd, err)
	}
	return sample{
		wall: time.Duration(u.WallNanos), cpu: time.Duration(u.CPUNanos), maxRSS: u.MaxRSS,
	}, nil
}
