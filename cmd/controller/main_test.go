package main

import "testing"

func TestWebhookAddr(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    string
		wantErr bool
	}{
		{name: "default port", value: "", want: ":8090"},
		{name: "other port", value: "9443", want: ":9443"},
		{name: "not a number", value: "http", wantErr: true},
		{name: "port zero", value: "0", wantErr: true},
		{name: "port too large", value: "70000", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := webhookAddr(tc.value)
			if (err != nil) != tc.wantErr {
				t.Fatalf("webhookAddr(%q) error = %v, want error %t", tc.value, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("webhookAddr(%q) = %q, want %q", tc.value, got, tc.want)
			}
		})
	}
}
