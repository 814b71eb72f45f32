package transport

import "testing"

func TestBindAddress(t *testing.T) {
	for in, want := range map[string]string{
		"tcp://127.0.0.1:5000":       "tcp://127.0.0.1:5000",
		"tcp://[::1]:5000":           "tcp://[::1]:5000",
		"tcp://localhost:5000":       "tcp://127.0.0.1:5000",
		"tcp://bus.example.org:5000": "tcp://*:5000",
		"tcp://10.0.0.7:5000":        "tcp://*:5000",
		"ipc:///run/ackmsg/pub":      "ipc:///run/ackmsg/pub",
	} {
		if got, err := BindAddress(in); err != nil || got != want {
			t.Errorf("BindAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ipc://", "udp://h:1", "tcp://h", "tcp://h:", "h:5000"} {
		if got, err := BindAddress(in); err == nil {
			t.Errorf("BindAddress(%q) = %q; want an error", in, got)
		}
	}
}
