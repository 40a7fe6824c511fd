package harbortest

import "time"

// Clock is the source of the current time for push times, token expiry and the scan state
// machine. Tests inject a fake clock and advance it to move scans through their states.
type Clock interface {
	Now() time.Time
}

// realClock reads the system time.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
