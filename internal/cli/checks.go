package cli

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/druppie/harbor-gate/pkg/gate"
)

// publishEnvFor returns the environment variables publish reads for f.
// With --skip-sign, the key variables are left out: a COSIGN_KEY set for
// other tools must not conflict with an explicit request not to sign.
func publishEnvFor(f *publishFlags) map[string]string {
	if !f.skipSign {
		return publishEnv
	}
	vars := make(map[string]string, len(publishEnv))
	for flag, env := range publishEnv {
		if flag != "key" && flag != "key-password-file" {
			vars[flag] = env
		}
	}
	return vars
}

// checkWait rejects scan wait durations that cannot work, before anything
// is pushed.
func (f *publishFlags) checkWait() error {
	switch {
	case f.grace < 0:
		return usagef("invalid --scan-grace %s: use zero or a positive duration", f.grace)
	case f.pollInterval <= 0:
		return usagef("invalid --poll-interval %s: use a positive duration such as 2s",
			f.pollInterval)
	case f.maxPoll <= 0:
		return usagef("invalid --max-poll-interval %s: use a positive duration such as 30s",
			f.maxPoll)
	case f.pollInterval > f.maxPoll:
		return usagef("--poll-interval %s is longer than --max-poll-interval %s; "+
			"raise --max-poll-interval or lower --poll-interval", f.pollInterval, f.maxPoll)
	case f.timeout <= 0:
		return usagef("invalid --timeout %s: use a positive duration such as 30m", f.timeout)
	}
	return nil
}

// prepareResultsDir creates the results directory and removes result
// files an earlier run left there, so that a run that fails before its
// verdict cannot leave a stale VERDICT behind. It runs before the push so
// that an unusable directory is reported before any work is done.
func prepareResultsDir(dir string) error {
	if dir == "" {
		return nil
	}
	dir = filepath.Clean(dir)
	if info, err := os.Stat(dir); err == nil && !info.IsDir() {
		return usagef("invalid --results-dir %q: it is a file, not a directory", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usagef("--results-dir: %v", err)
	}
	for _, name := range gate.ResultNames() {
		err := os.Remove(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return usagef("--results-dir: removing the earlier result: %v", err)
		}
	}
	return nil
}
