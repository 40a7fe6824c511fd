// Package hostile holds harbor-gate's corpus of hostile input and its security checks.
//
// Every case of the corpus feeds one bad input to one entry point. CustomRun params and
// specs go to the controller, and ImageGate specs to their validation. Flags go to
// "harbor-gate publish", webhook requests to the events receiver, and Harbor response
// bodies to the Harbor client. A case passes when the entry point does not panic, rejects the input or
// fails the image, and returns a message that names the offending value, or a sanitised
// form of it, and says what to do. TestCorpusSize keeps the corpus at 50 cases or more.
//
// The security checks look for secrets in everything a run writes, check that webhook
// authentication compares in constant time, and check that TLS verification is on by
// default.
package hostile
