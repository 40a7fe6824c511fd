package harbor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// jsonContainer is an object or array that checkUniqueKeys is inside of.
type jsonContainer struct {
	// at is the container's path element in its parent, such as ".summary" or "[2]".
	at string
	// key is the container's key in its parent object, or "" in an array.
	key    string
	object bool
	// keys contains the object's keys so far. For an object that go-client decodes into a
	// struct, the keys are case-folded, because encoding/json matches struct fields without
	// regard to case.
	keys     map[string]bool
	foldKeys bool
	// wantKey means that the next token is a key or the object's end.
	wantKey bool
	// current is the last key of an object or the index of an array's next element.
	current string
	index   int
}

// checkUniqueKeys reads the first JSON value in data and fails when an object has a key
// twice. encoding/json keeps the last of duplicated keys, so that a body with
// {"Critical":4,"Critical":0} would read as no critical finding. The objects that go-client
// decodes into structs on the way to a verdict also fail with two keys that differ only in
// case, such as "scan_status" and "Scan_Status".
func checkUniqueKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*jsonContainer
	for {
		token, err := dec.Token()
		if errors.Is(err, io.EOF) && len(stack) == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading JSON: %w", err)
		}
		var top *jsonContainer
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.wantKey {
			if _, end := token.(json.Delim); end {
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					return nil
				}
				valueDone(stack[len(stack)-1])
				continue
			}
			if err := top.addKey(token.(string), stack); err != nil {
				return err
			}
			continue
		}

		switch token {
		case json.Delim('{'), json.Delim('['):
			container := &jsonContainer{at: elementOf(top), object: token == json.Delim('{')}
			if top != nil && top.object {
				container.key = top.current
			}
			if container.object {
				container.keys = map[string]bool{}
				container.foldKeys = decodedAsStruct(append(stack, container))
				container.wantKey = true
			}
			stack = append(stack, container)
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			return nil
		}
		valueDone(stack[len(stack)-1])
	}
}

// addKey records key in the object c, the top of stack, or fails when c has it already.
func (c *jsonContainer) addKey(key string, stack []*jsonContainer) error {
	seen := key
	if c.foldKeys {
		seen = foldCase(key)
	}
	if c.keys[seen] {
		return fmt.Errorf("the key %q occurs twice in the object at %s", key, jsonPath(stack))
	}
	c.keys[seen] = true
	c.current = key
	c.wantKey = false
	return nil
}

// valueDone moves c past the value that has just been read.
func valueDone(c *jsonContainer) {
	if c.object {
		c.wantKey = true
	} else {
		c.index++
	}
}

// plainKey matches a key that jsonPath writes without quotes.
var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// elementOf returns the path element of the next value in parent, in jq syntax.
func elementOf(parent *jsonContainer) string {
	switch {
	case parent == nil:
		return ""
	case !parent.object:
		return "[" + strconv.Itoa(parent.index) + "]"
	case plainKey.MatchString(parent.current):
		return "." + parent.current
	}
	return "[" + strconv.Quote(parent.current) + "]"
}

// jsonPath returns the path of the innermost container of stack in jq syntax, such as
// `.scan_overview["application/json"].summary`, or "." for the top-level value.
func jsonPath(stack []*jsonContainer) string {
	var b strings.Builder
	for _, c := range stack {
		b.WriteString(c.at)
	}
	if b.Len() == 0 {
		return "."
	}
	return b.String()
}

// decodedAsStruct reports whether go-client decodes the object at the end of stack into a
// struct that a scan verdict reads: the artifact, a report type's entry in scan_overview,
// and that entry's summary. Object keys in the path are compared as encoding/json matches
// struct fields, without regard to case.
func decodedAsStruct(stack []*jsonContainer) bool {
	keys := make([]string, 0, len(stack))
	for _, c := range stack[1:] {
		keys = append(keys, c.key)
	}
	switch len(keys) {
	case 0:
		return true
	case 1:
		return false
	case 2:
		return strings.EqualFold(keys[0], "scan_overview")
	case 3:
		return strings.EqualFold(keys[0], "scan_overview") &&
			strings.EqualFold(keys[2], "summary")
	}
	return false
}

// foldCase maps every rune of s to the smallest rune of its Unicode simple case folding
// orbit, so that two keys that strings.EqualFold considers equal map to the same string.
// This covers the pairs that encoding/json matches, such as 'k' and the Kelvin sign.
func foldCase(s string) string {
	return strings.Map(func(r rune) rune {
		smallest := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			smallest = min(smallest, f)
		}
		return smallest
	}, s)
}
