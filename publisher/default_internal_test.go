package publisher

import (
	"errors"
	"strings"
	"testing"
)

// Without a registered builder (package config registers one in its init), Default says which
// import is missing instead of building something.
func TestDefaultWithoutRegistration(t *testing.T) {
	saved := std.Register(nil)
	defer RegisterDefault(saved)
	_, err := Default()
	if !errors.Is(err, ErrNoDefault) || !strings.Contains(err.Error(), `import _ "github.com/ackmsg/ackmsg/config"`) {
		t.Fatalf("Default = %v, want ErrNoDefault naming the import", err)
	}
	calls := 0
	RegisterDefault(func() (*Publisher, error) { calls++; return nil, errors.New("built") })
	if _, err := Default(); err == nil || err.Error() != "built" || calls != 1 {
		t.Fatalf("Default = %v after RegisterDefault (%d calls), want the builder's error", err, calls)
	}
}
