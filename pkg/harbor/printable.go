package harbor

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the text from Harbor that an error message shows, in bytes after escaping.
// Harbor's error messages are one or two sentences and its error codes one word.
const (
	maxShownText = 1024
	maxShownCode = 64
)

// printable returns s with each rune that unicode.IsPrint rejects written as a Go escape
// sequence, such as \x1b for ESC, \u202e for a right-to-left override or \x00 for NUL, and
// each byte of invalid UTF-8 as \xNN. Text from Harbor then cannot move the cursor, clear
// the screen or reorder a line in a terminal or log. The result is cut to at most limit
// bytes plus a note of how many bytes of s were left out.
func printable(s string, limit int) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var piece string
		switch {
		case r == utf8.RuneError && size == 1:
			piece = fmt.Sprintf(`\x%02x`, s[i])
		case unicode.IsPrint(r):
			piece = s[i : i+size]
		default:
			quoted := strconv.QuoteRune(r)
			piece = quoted[1 : len(quoted)-1]
		}
		if b.Len()+len(piece) > limit {
			fmt.Fprintf(&b, "... (cut at %d of %d bytes)", i, len(s))
			break
		}
		b.WriteString(piece)
		i += size
	}
	return b.String()
}
