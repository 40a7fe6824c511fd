//go:build integration

package integration

import (
	"fmt"

	"github.com/sigstore/cosign/v2/pkg/cosign"

	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// Harbor projects and the robot account of the double.
const (
	// targetProject is the private project the gate pushes to.
	targetProject = "team"
	// sourceProject is a public project that holds the source images, standing in for
	// the registry a build task pushes to.
	sourceProject = "staging"
	robotName     = "ci"
)

// Repository prefixes in targetProject that select a scan outcome of the fixture.
const (
	repoClean      = "clean"
	repoVulnerable = "vulnerable"
	// repoSlow scans as vulnerable after 6 s of Running, long enough to stop and start
	// the controller in the middle of the wait.
	repoSlow = "slow"
	// repoStuck never leaves Running.
	repoStuck = "stuck"
)

// scanFixture gives repositories in targetProject their scan outcome. A scan without a
// matching rule finds nothing after 50 ms Pending and 300 ms Running.
const scanFixture = `
pending: 50ms
running: 300ms
rules:
  - repository: "team/slow-*"
    running: 6s
    vulnerabilities:
      - {id: CVE-2024-0001, package: openssl, version: 3.0.0, fix_version: 3.0.1, severity: Critical}
  - repository: "team/stuck-*"
    status: Running
  - repository: "team/vulnerable-*"
    vulnerabilities:
      - {id: CVE-2024-0001, package: openssl, version: 3.0.0, fix_version: 3.0.1, severity: Critical}
      - {id: CVE-2024-0002, package: zlib, version: 1.2.0, severity: Low}
`

// startHarbor starts the Harbor double with the fixture, both projects and a robot with a
// random secret, and generates the cosign key pair the runs sign with.
func startHarbor() (*harborEnv, error) {
	fixture, err := harbortest.ParseFixture([]byte(scanFixture))
	if err != nil {
		return nil, err
	}
	robotSecret, err := randomHex(16)
	if err != nil {
		return nil, err
	}
	keyPassword, err := randomHex(16)
	if err != nil {
		return nil, err
	}
	keys, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) {
		return []byte(keyPassword), nil
	})
	if err != nil {
		return nil, fmt.Errorf("generating a cosign key pair: %w", err)
	}
	srv, err := harbortest.New(
		harbortest.WithFixture(fixture),
		harbortest.WithProject(harbortest.Project{Name: targetProject}),
		harbortest.WithProject(harbortest.Project{Name: sourceProject, Public: true}),
		harbortest.WithRobot(targetProject, robotName, robotSecret),
	)
	if err != nil {
		return nil, fmt.Errorf("starting the Harbor double: %w", err)
	}
	return &harborEnv{srv: srv, robotSecret: robotSecret, keys: keys,
		keyPassword: keyPassword}, nil
}
