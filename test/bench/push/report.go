package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// printMachine writes the CPU count and model, the memory and the Go version.
func printMachine() {
	fmt.Printf("\nMachine: %d CPUs, %s, %s memory, %s\n", runtime.NumCPU(),
		procField("/proc/cpuinfo", "model name"), procField("/proc/meminfo", "MemTotal"),
		runtime.Version())
}

// procField returns the value of the first line "key: value" of file, or "unknown".
func procField(file, key string) string {
	f, err := os.Open(file)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		k, v, ok := strings.Cut(scanner.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// spread is the median, minimum and maximum of a series.
type spread struct{ median, min, max float64 }

func spreadOf(values []float64) spread {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	n := len(sorted)
	median := sorted[n/2]
	if n%2 == 0 {
		median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return spread{median: median, min: sorted[0], max: sorted[n-1]}
}

// seconds formats a spread of seconds as "median (min-max) s".
func (s spread) seconds() string {
	return fmt.Sprintf("%.2f s (%.2f-%.2f)", s.median, s.min, s.max)
}

// field returns f of each sample.
func field(samples []sample, f func(sample) float64) []float64 {
	out := make([]float64, len(samples))
	for i, s := range samples {
		out[i] = f(s)
	}
	return out
}

func wallOf(s sample) float64 { return s.wall.Seconds() }
func cpuOf(s sample) float64  { return s.cpu.Seconds() }
func rssOf(s sample) float64  { return float64(s.maxRSS) / (1 << 20) }

// ratio formats a/b, or "-" when b is unknown.
func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// printPushTable writes medians with their range and the ratios to crane and the floor.
func printPushTable(samples map[pushKey][]sample, images []benchImage, targets []*target,
	tools []tool) {
	fmt.Println("\nPushes into an empty repository: medians, with min-max in brackets.")
	fmt.Println()
	fmt.Println("| image | target | tool | n | wall time | CPU time (user+sys) | " +
		"peak RSS | wall / crane | wall / floor | CPU / crane |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, image := range images {
		for _, t := range targets {
			median := func(tool string, f func(sample) float64) float64 {
				s := samples[pushKey{image.name, t.name, tool}]
				if len(s) == 0 {
					return 0
				}
				return spreadOf(field(s, f)).median
			}
			craneWall, floorWall := median(toolCrane, wallOf), median(toolFloor, wallOf)
			craneCPU := median(toolCrane, cpuOf)
			for _, tl := range tools {
				s := samples[pushKey{image.name, t.name, tl.name}]
				wall, cpu := spreadOf(field(s, wallOf)), spreadOf(field(s, cpuOf))
				fmt.Printf("| %s (%d blobs, %.0f MiB) | %s | %s | %d | %s | %s | %.0f MiB | "+
					"%s | %s | %s |\n", image.name, image.blobs, float64(image.bytes)/(1<<20),
					t.name, tl.name, len(s), wall.seconds(), cpu.seconds(),
					spreadOf(field(s, rssOf)).median, ratio(wall.median, craneWall),
					ratio(wall.median, floorWall), ratio(cpu.median, craneCPU))
			}
		}
	}
}

// printRepushTable writes the requests of each push of an image the target already had.
func printRepushTable(repushes []repush) {
	fmt.Println("\nPushing the same image again, counted by a proxy in front of the target. " +
		"Registry requests leave out the requests to Harbor's token service.")
	fmt.Println()
	fmt.Println("| image | target | tool | wall time | blob uploads | registry requests | " +
		"token requests | manifest reads by tag | requests by kind |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range repushes {
		total := 0
		var kinds []string
		for kind, n := range r.counts {
			if kind != kindToken {
				total += n
			}
			kinds = append(kinds, fmt.Sprintf("%s: %d", kind, n))
		}
		slices.Sort(kinds)
		fmt.Printf("| %s | %s | %s | %s | %d | %d | %d | %d | %s |\n", r.image, r.target,
			r.tool, r.wall.Round(time.Millisecond), r.counts[kindUploadFinish], total,
			r.counts[kindToken], r.counts[kindManifestTagGet], strings.Join(kinds, ", "))
	}
}
