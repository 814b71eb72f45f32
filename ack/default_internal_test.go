package ack

import (
	"errors"
	"strings"
	"testing"
)

// Without a registered builder (package config registers one in its init), Default says which
// import is missing.
func TestDefaultWithoutRegistration(t *testing.T) {
	std.mu.Lock()
	saved := std.build
	std.build = nil
	std.mu.Unlock()
	defer RegisterDefault(saved)
	if _, err := Default(); !errors.Is(err, ErrNoDefault) || !strings.Contains(err.Error(), `import _ "github.com/ackmsg/ackmsg/config"`) {
		t.Fatalf("Default = %v, want ErrNoDefault naming the import", err)
	}
}
