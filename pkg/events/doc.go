// Package events connects harbor-gate to the events around a scan: it receives Harbor's
// webhook deliveries, which wake runs that wait for a scan, and it relays each verdict as a
// CloudEvent to the platform's core service.
//
// Receiver is an http.Handler for Harbor webhook deliveries in both payload formats that
// Harbor v2.13 offers, Default and CloudEvents. It checks the method, the content type, the
// body size and the Authorization header, and passes each scanned artifact of a scan event
// to a callback as a Delivery. A delivery is only a hint: the callback enqueues the runs
// that wait for the digest, and those runs read Harbor again before they decide. Waiters
// maps digests to the keys of those runs.
//
// Relay sends one CloudEvent of type dev.druppie.harbor.scan.completed per verdict to a sink
// URL. Send enqueues and returns at once, and a worker posts with retries and backoff;
// SendNow posts synchronously for the command line.
//
// The package logs nothing. Receiver and Relay count what they did in Stats instead.
package events
