// Package internal_test holds what is checked of internal/ as a whole: it is the floor below the
// public packages (docs/design.md, "Layers and packages").
package internal_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/ackmsg/ackmsg/"

// above are the public packages that stand on internal/ (with their subpackages): an internal
// package that needs one of them belongs beside the commands (cmd/internal) or inside the
// package it serves (outbox/internal), not here.
var above = []string{"config", "cli", "ack", "publisher", "consumer", "replay", "outbox", "hub", "bridge", "archive", "cmd", "tools", "examples"}

// No internal package depends, even through another package, on a package above internal/.
func TestNoInternalPackageImportsAbove(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	pkgs := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(pkgs) < 10 {
		t.Fatalf("go list ./... from internal/ listed %d packages: %q", len(pkgs), pkgs)
	}
	for _, line := range pkgs {
		pkg, deps, _ := strings.Cut(line, " ")
		if !strings.HasPrefix(pkg, module+"internal") {
			t.Fatalf("go list ./... from internal/ listed %s", pkg)
		}
		var up []string
		for _, dep := range strings.Fields(deps) {
			rel, ok := strings.CutPrefix(dep, module)
			if !ok {
				continue
			}
			top, _, _ := strings.Cut(rel, "/")
			if slices.Contains(above, top) {
				up = append(up, rel)
			}
		}
		if len(up) > 0 {
			t.Errorf("%s depends on packages above internal/: %s", pkg, strings.Join(up, ", "))
		}
	}
}
