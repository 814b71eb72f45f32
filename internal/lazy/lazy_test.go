package lazy

import (
	"errors"
	"sync"
	"testing"
)

type thing struct{ closed int }

func (t *thing) Close() error { t.closed++; return nil }

var errNone = errors.New("none registered")

func TestDefault(t *testing.T) {
	var d Default[*thing]
	if _, err := d.Get(errNone); !errors.Is(err, errNone) {
		t.Fatalf("Get with no builder: %v, want errNone", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close with nothing built: %v", err)
	}
	builds := 0
	fail := errors.New("boom")
	if prev := d.Register(nil); prev != nil {
		t.Fatal("Register on a zero Default returned a previous builder")
	}
	d.Register(func() (*thing, error) {
		builds++
		if builds == 1 {
			return nil, fail
		}
		return &thing{}, nil
	})
	if _, err := d.Get(errNone); !errors.Is(err, fail) {
		t.Fatalf("first build: %v, want its error", err)
	}
	a, err := d.Get(errNone)
	if err != nil || a == nil {
		t.Fatalf("second build: %v, %v", a, err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if b, _ := d.Get(errNone); b != a {
				t.Error("Get built a second value while one is kept")
			}
		})
	}
	wg.Wait()
	if builds != 2 {
		t.Fatalf("builds = %d, want 2 (a failed one, then one kept)", builds)
	}
	if err := d.Close(); err != nil || a.closed != 1 {
		t.Fatalf("Close: %v, closed %d times", err, a.closed)
	}
	if b, _ := d.Get(errNone); b == a || builds != 3 {
		t.Fatalf("Get after Close returned the closed value (builds %d)", builds)
	}
	if prev := d.Register(nil); prev == nil {
		t.Fatal("Register did not return the builder it replaced")
	}
}
