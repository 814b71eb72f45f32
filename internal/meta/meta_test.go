package meta

import (
	"slices"
	"testing"

	"github.com/ackmsg/ackmsg/message"
)

func TestUsersAndPackages(t *testing.T) {
	m, err := message.Decode([]byte(`{"i":1,"msg":{"agent":"ralph","build":{"owner":{"name":"kevin","id":3},"packager":["a","b"]},` +
		`"package":{"name":"kernel"},"packages":["bash","kernel"],"title":"user"},"msg_id":"x","timestamp":1,"topic":"t","username":"apache"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Users(m, "logger-host"), []string{"a", "apache", "b", "kevin", "logger-host", "ralph"}; !slices.Equal(got, want) {
		t.Errorf("Users = %q, want %q", got, want)
	}
	if got, want := Packages(m), []string{"bash", "kernel"}; !slices.Equal(got, want) {
		t.Errorf("Packages = %q, want %q", got, want)
	}
}
