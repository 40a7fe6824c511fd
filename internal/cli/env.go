package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// envFallbacks sets each flag that was not given on the command line from
// its environment variable, when that variable is set and not empty. A
// flag's help text names its variable.
func envFallbacks(flags *pflag.FlagSet, vars map[string]string) error {
	for flagName, envName := range vars {
		f := flags.Lookup(flagName)
		if f == nil || f.Changed {
			continue
		}
		value, ok := os.LookupEnv(envName)
		if !ok || value == "" {
			continue
		}
		if err := flags.Set(flagName, value); err != nil {
			return usagef("invalid value %q in environment variable %s for --%s: %v",
				value, envName, flagName, err)
		}
	}
	return nil
}

// readSecret returns a secret from the file at path, or else from the
// environment variable envName. Trailing newlines, which editors and
// Kubernetes Secret files often add, are removed. The secret never
// appears in the returned error.
func readSecret(path, envName string) (string, error) {
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", usagef("reading secret file: %v", err)
		}
		return strings.TrimRight(string(data), "\r\n"), nil
	}
	return os.Getenv(envName), nil
}

// readFile reads an input file named by flag, with an error that names
// the flag.
func readFile(flag, path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("--%s: %v", flag, err)
	}
	return data, nil
}

func envHelp(help, envName string) string {
	return fmt.Sprintf("%s (env %s)", help, envName)
}
