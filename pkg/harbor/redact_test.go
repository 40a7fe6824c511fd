package harbor

import "testing"

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"http://robot:TOP%zz@127.0.0.1:1": "http://REDACTED@127.0.0.1:1",
		"http://a@b:c@host":               "http://REDACTED@host",
		"https://harbor.example":          "https://harbor.example",
		"no scheme":                       "no scheme",
		"https://h.example/a@b":           "https://h.example/a@b",
	}
	for in, want := range tests {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
