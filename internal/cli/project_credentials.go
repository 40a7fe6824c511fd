package cli

import (
	"fmt"
	"io"
	"net/url"
	"os"

	"github.com/druppie/harbor-gate/pkg/projectpolicy"
)

// writeCredentials writes the robot's new credentials to the files the flags name and, with
// --show-secret only, prints the secret. Harbor returns a robot secret only when the robot
// is created or its secret refreshed, so without new credentials it only explains that.
func writeCredentials(stdout, stderr io.Writer, creds *projectpolicy.RobotCredentials,
	f *projectFlags) error {
	wantsFiles := f.pullSecretOut != "" || f.gateSecretOut != ""
	if creds == nil {
		if wantsFiles {
			fmt.Fprintln(stderr, "no robot secret was created, so no Secret file was "+
				"written: add --rotate-robot-secret to refresh the secret and write it")
		}
		return nil
	}
	if f.pullSecretOut != "" {
		registry, err := f.registryHost()
		if err != nil {
			return err
		}
		data, err := projectpolicy.PullSecretYAML(f.pullSecretName, f.secretNamespace,
			registry, *creds)
		if err != nil {
			return err
		}
		if err := writePrivateFile(f.pullSecretOut, data); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote ImagePullSecret %s to %s\n", f.pullSecretName,
			f.pullSecretOut)
	}
	if f.gateSecretOut != "" {
		data, err := projectpolicy.GateSecretYAML(f.gateSecretName, f.secretNamespace, *creds)
		if err != nil {
			return err
		}
		if err := writePrivateFile(f.gateSecretOut, data); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote Secret %s to %s\n", f.gateSecretName, f.gateSecretOut)
	}
	fmt.Fprintf(stderr, "robot %s has a new secret\n", creds.Username)
	switch {
	case f.showSecret:
		fmt.Fprintf(stdout, "robot secret: %s\n", creds.Secret)
	case !wantsFiles:
		fmt.Fprintln(stderr, "Harbor shows a robot secret only once and it was not saved: "+
			"apply again with --rotate-robot-secret and --gate-secret-out, "+
			"--pull-secret-out or --show-secret")
	}
	return nil
}

// registryHost returns --registry, or the host of --harbor-url.
func (f *projectFlags) registryHost() (string, error) {
	if f.registry != "" {
		return f.registry, nil
	}
	u, err := url.Parse(f.harborURL)
	if err != nil || u.Host == "" {
		return "", usagef("cannot derive the registry host from --harbor-url: set --registry")
	}
	return u.Host, nil
}

// writePrivateFile writes data readable by the owner only, also over an existing file.
func writePrivateFile(path string, data []byte) error {
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := file.Chmod(0o600); err != nil {
		file.Close()
		return fmt.Errorf("restricting %s to its owner: %w", path, err)
	}
	if _, err := file.Write(data); err != nil {
		file.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return file.Close()
}
