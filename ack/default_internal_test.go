package ack

import (
	"errors"
	"strings"
	"testing"
)

// Without a registered builder (package config registers one in its init), Default says which
// import is missing.
func TestDefaultWithoutRegistration(t *testing.T) {
	saved := std.Register(nil)
	defer RegisterDefault(saved)
	if _, err := Default(); !errors.Is(err, ErrNoDefault) || !strings.Contains(err.Error(), `import _ "github.com/ackmsg/ackmsg/config"`) {
		t.Fatalf("Default = %v, want ErrNoDefault naming the import", err)
	}
}
