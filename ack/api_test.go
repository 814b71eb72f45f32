package ack_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/constant"
	"go/format"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

const (
	modPath       = "github.com/ackmsg/ackmsg"
	publisherPath = modPath + "/publisher"
	consumerPath  = modPath + "/consumer"
	ackPath       = modPath + "/ack"
)

// noMirror lists the exported names of packages publisher and consumer that package ack
// deliberately does not mirror, each with the reason. A program that uses one of them keeps
// importing the base package for it. TestImportSwapAPI fails when an entry is stale (the name
// is gone, or has a compatible mirror after all), so this list is always the exact set of gaps.
var noMirror = map[string]string{
	// Raw sends bypass the ACK engine: a program that called them would compile after the swap
	// and silently lose the guarantee. They stay reachable as p.Publisher().SendRaw/Resend.
	"publisher.Publisher.SendRaw": "sends encoded frames outside the ACK engine (use Publisher().SendRaw)",
	"publisher.Publisher.Resend":  "sends encoded frames outside the ACK engine (use Publisher().Resend)",

	// A Subscriber's Stats() returns SubscriberStats, which embeds consumer.Stats: reading
	// s.Stats().Received or .Dropped compiles unchanged. Only naming the type differs, because
	// ack.Stats is the Publisher's counters.
	// The socket-less Builder is for stores that send later: ack.Prepare takes one and adds the
	// ACK marker and recipients. A publishing program has no use for it, so ack needs no twin.
	"publisher.NewBuilder": "a socket-less builder for stores (ack.Prepare takes a *publisher.Builder)",

	// The components' Configs: ack.Config holds a publisher.Config and adds what waiting for
	// ACKs needs, so it is no field-for-field twin; New, NewHub and Config are mirrored by name.
	// A program that loads a fedmsg configuration builds through package config, whose acked
	// builders are the twins of the base ones (config.NewAckPublisher for NewPublisher, ...).
	"publisher.Config":                   "ack.Config holds a publisher.Config and the ACK settings",
	"publisher.Publisher.Logger":         "the base publisher's logger, for package config's notes",
	"publisher.DefaultTopicPrefix":       "only for publisher.Config",
	"publisher.DefaultEnvironment":       "only for publisher.Config",
	"publisher.DefaultReplayMaxMessages": "only for publisher.Config",
	"publisher.DefaultReplayMaxBytes":    "only for publisher.Config",

	// The receiving side: an acking Subscriber's SubscriberConfig holds a consumer.Config and
	// where its ACKs go.
	"consumer.NewSubscriber":          "takes a consumer.Config; ack.NewSubscriber an ack.SubscriberConfig (config.NewAckSubscriber is the twin of config.NewSubscriber)",
	"consumer.Tail":                   "takes a consumer.Config; ack.Tail an ack.SubscriberConfig (config.AckTail is the twin of config.Tail)",
	"consumer.TailOf":                 "config.Tail's loop over a built Subscriber",
	"consumer.Config":                 "ack.SubscriberConfig holds a consumer.Config and where the ACKs go",
	"consumer.ReplayConfig":           "only for consumer.Config",
	"consumer.HubConfig":              "ack.HubConfig holds a consumer.HubConfig and the acking Subscriber's",
	"consumer.HubConfig.Validate":     "only for consumer.HubConfig",
	"consumer.DefaultHubConfig":       "only for consumer.HubConfig",
	"consumer.DefaultMaxFrameSize":    "only for consumer.Config",
	"consumer.DefaultReplayPage":      "only for consumer.Config",
	"consumer.DefaultReplayTimeout":   "only for consumer.Config",
	"consumer.DefaultMaxAttempts":     "only for consumer.HubConfig",
	"consumer.DefaultShutdownTimeout": "only for consumer.HubConfig",
	"consumer.DefaultDedupeWindow":    "only for consumer.HubConfig",
	"consumer.DefaultWorkers":         "only for consumer.ConsumerConfig (ack.DefaultConsumerConfig applies them)",
	"consumer.DefaultInbox":           "only for consumer.ConsumerConfig (ack.DefaultConsumerConfig applies them)",
	"consumer.DefaultTimeout":         "only for consumer.ConsumerConfig (ack.DefaultConsumerConfig applies them)",
	"publisher.Builder":               "a socket-less builder for stores (ack.Prepare takes a *publisher.Builder)",
	"publisher.Builder.Build":         "only for Builder",
	"publisher.Builder.Config":        "only for Builder",
	"publisher.Builder.FullTopic":     "only for Builder",
	"publisher.Builder.Signer":        "only for Builder",

	// The numbering engine: Sequence sends outside the ACK engine (acked messages are numbered
	// by Publish itself); History is the engine's state, reachable as Publisher().History().
	"publisher.Publisher.Sequence": "numbers and sends outside the ACK engine (acked publishes are numbered by Publish)",
	"publisher.Publisher.History":  "the numbering engine (use Publisher().History())",

	// An acking Subscriber already drops the ACK topics unread (WithAckMessages keeps them);
	// any other skip goes in through WithConsumerOptions.
	"consumer.WithSkip": "a Subscriber skips ACK topics by itself (see WithAckMessages; others: WithConsumerOptions)",

	"consumer.Stats": "ack.Stats is the Publisher's counters; Subscriber.Stats returns SubscriberStats, which embeds consumer.Stats",

	// An acking hub reads from its acking Subscriber; ack.NewHub overrides any other source, so a
	// mirror would be an option that does nothing. Custom sources are consumer.NewHub's.
	"consumer.WithSource": "an acking hub's source is its acking Subscriber (custom sources: consumer.NewHub)",
	"consumer.OpenSource": "only for WithSource",
	"consumer.Source":     "only for WithSource",
	"consumer.SourceSpec": "only for WithSource",
	"consumer.Incoming":   "only for WithSource",
}

// ackTwins are package config's builders of the base components and of their acked twins.
var ackTwins = map[string]string{
	"NewPublisher": "NewAckPublisher", "NewSubscriber": "NewAckSubscriber", "NewHub": "NewAckHub", "Tail": "AckTail",
}

// loadPackages type-checks publisher, consumer and ack from the export data that `go list
// -export` produces (the go command builds what is missing), with one importer so that the
// three share their dependencies' types.
func loadPackages(t *testing.T) map[string]*types.Package {
	t.Helper()
	cmd := exec.Command("go", "list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}", ackPath)
	cmd.Dir = testbus.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -export: %v\n%s", err, stderrOf(err))
	}
	exports := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, file, _ := strings.Cut(line, "\t")
		exports[path] = file
	}
	imp := importer.ForCompiler(token.NewFileSet(), "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok || f == "" {
			return nil, fmt.Errorf("no export data for %q", path)
		}
		return os.Open(f)
	})
	pkgs := map[string]*types.Package{}
	for _, p := range []string{publisherPath, consumerPath, ackPath} {
		pkg, err := imp.Import(p)
		if err != nil {
			t.Fatalf("import %s: %v", p, err)
		}
		pkgs[p] = pkg
	}
	return pkgs
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// swapped prints a type as it reads after the import swap: publisher.X and consumer.X become
// ack.X.
func swapped(t types.Type) string {
	return types.TypeString(t, func(p *types.Package) string {
		switch p.Path() {
		case publisherPath, consumerPath, ackPath:
			return "ack"
		}
		return p.Name()
	})
}

// checker compares a base package's API with ack's.
type checker struct {
	seen map[[2]types.Type]bool
}

// usable reports why a value of type a (from ack) cannot stand where a program expects one of
// type b (from a base package), or "" when it can: the same type, or a namesake of a type that
// is not a struct (an option type), or a (pointer to a) type with every exported field and method of b, of usable types (a struct
// embedding b's type qualifies), or an instance of the same generic type with usable type
// arguments (iter.Seq2[*ack.Delivery, error] for iter.Seq2[consumer.Delivery, error]).
func (c *checker) usable(a, b types.Type) string {
	if types.Identical(a, b) {
		return ""
	}
	if _, isStruct := deref(types.Unalias(b)).Underlying().(*types.Struct); !isStruct && swapped(a) == swapped(b) {
		return "" // a namesake (an option type, say): the functions that make and take it are compared
	}
	key := [2]types.Type{a, b}
	if c.seen[key] {
		return "" // assumed while it is being checked (recursive types)
	}
	c.seen[key] = true
	a, b = types.Unalias(a), types.Unalias(b)
	if pa, ok := a.(*types.Pointer); ok {
		if pb, ok := b.(*types.Pointer); ok {
			return c.usable(pa.Elem(), pb.Elem())
		}
	}
	na, oka := deref(a).(*types.Named)
	nb, okb := b.(*types.Named)
	if !oka || !okb {
		return fmt.Sprintf("%s is not usable as %s", swapped(a), qualified(b))
	}
	if nb.TypeArgs().Len() > 0 {
		if na.Origin() != nb.Origin() || na.TypeArgs().Len() != nb.TypeArgs().Len() {
			return fmt.Sprintf("%s is not an instance of %s", swapped(a), swapped(nb.Origin()))
		}
		for i := range nb.TypeArgs().Len() {
			if why := c.usable(na.TypeArgs().At(i), nb.TypeArgs().At(i)); why != "" {
				return why
			}
		}
		return ""
	}
	if _, iface := nb.Underlying().(*types.Interface); iface {
		return fmt.Sprintf("%s is not the interface %s", swapped(a), qualified(b))
	}
	var missing []string
	for _, name := range members(nb) {
		if _, ok := noMirror[nb.Obj().Pkg().Name()+"."+nb.Obj().Name()+"."+name]; ok {
			continue // reported on its own, as the method's entry
		}
		ob, _, _ := types.LookupFieldOrMethod(types.NewPointer(nb), true, nb.Obj().Pkg(), name)
		oa, _, _ := types.LookupFieldOrMethod(types.NewPointer(na), true, na.Obj().Pkg(), name)
		if oa == nil {
			missing = append(missing, name)
			continue
		}
		switch ob := ob.(type) {
		case *types.Var:
			va, ok := oa.(*types.Var)
			if !ok {
				missing = append(missing, name+" (not a field)")
			} else if why := c.usable(va.Type(), ob.Type()); why != "" {
				missing = append(missing, name+": "+why)
			}
		case *types.Func:
			fa, ok := oa.(*types.Func)
			if !ok {
				missing = append(missing, name+" (not a method)")
			} else if why := c.signature(fa.Type().(*types.Signature), ob.Type().(*types.Signature)); why != "" {
				missing = append(missing, name+": "+why)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("%s lacks what %s has: %s", swapped(a), qualified(b), strings.Join(missing, "; "))
	}
	return ""
}

// qualified prints a type with its own package names.
func qualified(t types.Type) string { return types.TypeString(t, (*types.Package).Name) }

func deref(t types.Type) types.Type {
	if p, ok := t.(*types.Pointer); ok {
		return types.Unalias(p.Elem())
	}
	return t
}

// members lists the exported fields (promoted ones included) and methods of *n.
func members(n *types.Named) []string {
	set := map[string]bool{}
	var fields func(s *types.Struct, depth int)
	fields = func(s *types.Struct, depth int) {
		for i := range s.NumFields() {
			f := s.Field(i)
			if f.Exported() {
				set[f.Name()] = true
			}
			if f.Embedded() && depth < 4 {
				if es, ok := deref(types.Unalias(f.Type())).Underlying().(*types.Struct); ok {
					fields(es, depth+1)
				}
			}
		}
	}
	if s, ok := n.Underlying().(*types.Struct); ok {
		fields(s, 0)
	}
	ms := types.NewMethodSet(types.NewPointer(n))
	for i := range ms.Len() {
		if m := ms.At(i).Obj(); m.Exported() {
			set[m.Name()] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// signature reports why a call written for b does not compile against a: parameters must be
// the same types once renamed (so every argument still fits), results usable as b's.
func (c *checker) signature(a, b *types.Signature) string {
	if a.Params().Len() != b.Params().Len() || a.Variadic() != b.Variadic() {
		return fmt.Sprintf("parameters %s, want %s", swapped(a.Params()), swapped(b.Params()))
	}
	for i := range b.Params().Len() {
		if pa, pb := swapped(a.Params().At(i).Type()), swapped(b.Params().At(i).Type()); pa != pb {
			return fmt.Sprintf("parameter %d is %s, want %s", i+1, pa, pb)
		}
	}
	if a.Results().Len() != b.Results().Len() {
		return fmt.Sprintf("results %s, want %s", swapped(a.Results()), swapped(b.Results()))
	}
	for i := range b.Results().Len() {
		if why := c.usable(a.Results().At(i).Type(), b.Results().At(i).Type()); why != "" {
			return fmt.Sprintf("result %d: %s", i+1, why)
		}
	}
	return ""
}

// object compares one exported object of a base package with ack's namesake.
func (c *checker) object(ob, oa types.Object) string {
	if oa == nil || !oa.Exported() {
		return "no mirror"
	}
	switch ob := ob.(type) {
	case *types.Func:
		fa, ok := oa.(*types.Func)
		if !ok {
			return fmt.Sprintf("ack.%s is not a function", ob.Name())
		}
		return c.signature(fa.Type().(*types.Signature), ob.Type().(*types.Signature))
	case *types.Const:
		ca, ok := oa.(*types.Const)
		if !ok || constant.Compare(ca.Val(), token.NEQ, ob.Val()) {
			return fmt.Sprintf("ack.%s is not the constant %s", ob.Name(), ob.Val())
		}
	case *types.Var:
		va, ok := oa.(*types.Var)
		if !ok || swapped(va.Type()) != swapped(ob.Type()) {
			return fmt.Sprintf("ack.%s is not a variable of type %s", ob.Name(), swapped(ob.Type()))
		}
	case *types.TypeName:
		ta, ok := oa.(*types.TypeName)
		if !ok {
			return fmt.Sprintf("ack.%s is not a type", ob.Name())
		}
		switch types.Unalias(ob.Type()).Underlying().(type) {
		case *types.Struct, *types.Interface:
			// Methods are compared with the type's members; see the method loop below for the
			// entries that name them.
			return c.usable(types.NewPointer(ta.Type()), types.NewPointer(ob.Type()))
		}
		// Option-like func types and others: that the name exists is what a program needs;
		// the functions that make and take them are compared on their own.
	}
	return ""
}

// TestImportSwapAPI compares, with go/types, every exported function, constant, variable, type
// and method of packages publisher and consumer with its namesake in package ack. Each must have
// a mirror that a program written against the base package can use unchanged once its import
// is switched, or an entry in noMirror.
func TestImportSwapAPI(t *testing.T) {
	pkgs := loadPackages(t)
	ackScope := pkgs[ackPath].Scope()
	c := &checker{seen: map[[2]types.Type]bool{}}
	var mirrored, allowed []string
	var problems []string
	used := map[string]bool{}
	check := func(key, why string) {
		if reason, ok := noMirror[key]; ok {
			used[key] = true
			if why == "" {
				problems = append(problems, fmt.Sprintf("%s: listed in noMirror (%s) but ack mirrors it: remove the entry", key, reason))
			} else {
				allowed = append(allowed, key)
			}
			return
		}
		if why != "" {
			problems = append(problems, key+": "+why)
		} else {
			mirrored = append(mirrored, key)
		}
	}
	for _, path := range []string{publisherPath, consumerPath} {
		base := pkgs[path]
		for _, name := range base.Scope().Names() {
			ob := base.Scope().Lookup(name)
			if !ob.Exported() {
				continue
			}
			check(base.Name()+"."+name, c.object(ob, ackScope.Lookup(name)))
			// Methods one by one, so that each has its own line (and noMirror entry).
			tn, ok := ob.(*types.TypeName)
			if !ok || tn.IsAlias() {
				continue
			}
			named, ok := tn.Type().(*types.Named)
			if !ok {
				continue
			}
			ms := types.NewMethodSet(types.NewPointer(named))
			for i := range ms.Len() {
				m := ms.At(i).Obj().(*types.Func)
				if !m.Exported() || ms.At(i).Kind() != types.MethodVal {
					continue
				}
				key := fmt.Sprintf("%s.%s.%s", base.Name(), name, m.Name())
				ta, _ := ackScope.Lookup(name).(*types.TypeName)
				if ta == nil {
					check(key, "no mirror of the type")
					continue
				}
				oa, _, _ := types.LookupFieldOrMethod(types.NewPointer(ta.Type()), true, ta.Pkg(), m.Name())
				fa, _ := oa.(*types.Func)
				if fa == nil {
					check(key, "no mirror")
					continue
				}
				check(key, c.signature(fa.Type().(*types.Signature), m.Type().(*types.Signature)))
			}
		}
	}
	for key := range noMirror {
		if !used[key] {
			problems = append(problems, key+": listed in noMirror but not in the base packages' API: remove the entry")
		}
	}
	slices.Sort(problems)
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%d names of publisher and consumer mirrored in ack, %d without a mirror on purpose (noMirror)", len(mirrored), len(allowed))
	if testing.Verbose() {
		t.Logf("mirrored: %s", strings.Join(mirrored, " "))
	}
	if len(mirrored) < 60 {
		t.Errorf("only %d names compared: is the base API still loaded?", len(mirrored))
	}
}

// swapDir holds the programs written against the base packages.
func swapDir() string { return filepath.Join(testbus.RepoRoot(), "ack", "testdata", "swap") }

// swapImports rewrites a Go file written against publisher and consumer to use ack instead: the
// import paths become ack's (once), and every publisher.X and consumer.X becomes ack.X. Nothing
// else changes.
func swapImports(t *testing.T, src []byte) []byte {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "main.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	haveAck := false
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.IMPORT {
			continue
		}
		specs := gd.Specs[:0]
		for _, s := range gd.Specs {
			is := s.(*ast.ImportSpec)
			if p, _ := strconv.Unquote(is.Path.Value); p == publisherPath || p == consumerPath || p == ackPath {
				if haveAck {
					continue
				}
				is.Path.Value, is.Name, haveAck = strconv.Quote(ackPath), nil, true
			}
			specs = append(specs, s)
		}
		gd.Specs = specs
	}
	ast.Inspect(f, func(n ast.Node) bool {
		// Package config builds the components from a configuration: the acked twin of
		// config.NewPublisher, NewSubscriber, NewHub and Tail is config.NewAckPublisher,
		// NewAckSubscriber, NewAckHub and AckTail. The swap is the import and these names.
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && id.Obj == nil && id.Name == "config" {
				if twin, ok := ackTwins[sel.Sel.Name]; ok {
					sel.Sel.Name = twin
				}
			}
		}
		if sel, ok := n.(*ast.SelectorExpr); ok {
			// A package name is an identifier the parser could not resolve to a local object.
			if id, ok := sel.X.(*ast.Ident); ok && id.Obj == nil && (id.Name == "publisher" || id.Name == "consumer") {
				id.Name = "ack"
			}
		}
		return true
	})
	var b bytes.Buffer
	if err := format.Node(&b, fset, f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var swapPrograms = []string{"publish", "tail", "hub"}

// buildSwap builds the programs into dir: as written when swap is false, else rewritten by
// swapImports (through go build -overlay, so the tree is not touched).
func buildSwap(t *testing.T, dir string, swap bool) {
	t.Helper()
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if swap {
		replace := map[string]string{}
		for _, p := range swapPrograms {
			file := filepath.Join(swapDir(), p, "main.go")
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			out := swapImports(t, src)
			if bytes.Contains(out, []byte(publisherPath+`"`)) || bytes.Contains(out, []byte(consumerPath+`"`)) ||
				!bytes.Contains(out, []byte(ackPath+`"`)) {
				t.Fatalf("%s: the rewrite left a base import or added no ack import:\n%s", p, out)
			}
			gen := filepath.Join(t.TempDir(), p+".go")
			if err := os.WriteFile(gen, out, 0o644); err != nil {
				t.Fatal(err)
			}
			replace[file] = gen
		}
		overlay, err := json.Marshal(map[string]any{"Replace": replace})
		if err != nil {
			t.Fatal(err)
		}
		ov := filepath.Join(t.TempDir(), "overlay.json")
		if err := os.WriteFile(ov, overlay, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-overlay", ov)
	}
	for _, p := range swapPrograms {
		args = append(args, "./"+filepath.ToSlash(filepath.Join("ack", "testdata", "swap", p)))
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = testbus.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s (swapped: %v): %v\n%s", strings.Join(args, " "), swap, err, out)
	}
}

// swapBus is a relay-less bus for the swap programs: a publisher "pub.host" signing as pub01,
// with sub01 configured as the recipient of its topics, and a tail "tail.host" signing as sub01.
type swapBus struct {
	dir                 string
	pubConf, tailConf   string
	shortAckTimeoutConf string
}

func newSwapBus(t *testing.T) *swapBus {
	eps := map[string][]string{"pub.host": {testbus.Addr(t)}, "tail.host": {testbus.Addr(t)}}
	b := &swapBus{dir: t.TempDir()}
	write := func(name, node, cert string, ackTimeout config.Seconds) string {
		c := configtest.Sign(configtest.Config(eps), cert)
		c.Name = node
		c.Recipients = config.ListMap{"org.example.test.swap.#": {"sub01"}}
		c.AckTimeout = ackTimeout
		var buf bytes.Buffer
		if err := c.WriteTOML(&buf); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(b.dir, name+".toml")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	b.pubConf = write("pub", "pub.host", "pub01", 20)
	b.tailConf = write("tail", "tail.host", "sub01", 20)
	b.shortAckTimeoutConf = write("pub-short", "pub.host", "pub01", 1.5)
	return b
}

type swapRun struct {
	published []string // msg_ids the publisher printed
	received  []string // the tail's lines: "<msg_id> <marked> <topic> <endpoint> <signed>"
	pubErr    error
	pubStderr string
}

// run starts the tail from tailBin, then the publisher from pubBin, and waits for both (the tail
// is stopped if the publisher failed).
func (b *swapBus) run(t *testing.T, pubBin, pubConf, tailBin string, tailArgs ...string) swapRun {
	t.Helper()
	ctx := testbus.Within(t, 60*time.Second)
	tail := exec.CommandContext(ctx, tailBin, append([]string{"-count", "3", "-topic", "org.example.test.swap"}, tailArgs...)...)
	tail.Env = append(os.Environ(), "ACKMSG_CONFIG="+b.tailConf)
	var tailOut, tailErr bytes.Buffer
	tail.Stdout, tail.Stderr = &tailOut, &tailErr
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	pub := exec.CommandContext(ctx, pubBin, "-count", "3")
	pub.Env = append(os.Environ(), "ACKMSG_CONFIG="+pubConf)
	var pubOut, pubErr bytes.Buffer
	pub.Stdout, pub.Stderr = &pubOut, &pubErr
	var r swapRun
	r.pubErr = pub.Run()
	r.pubStderr = pubErr.String()
	if r.pubErr != nil {
		tail.Process.Kill() // our own child, by its pid
	}
	tailRunErr := tail.Wait()
	if r.pubErr == nil && tailRunErr != nil {
		t.Fatalf("tail: %v\n%s\npublisher log:\n%s", tailRunErr, tailErr.String(), r.pubStderr)
	}
	r.published = strings.Fields(pubOut.String())
	for _, l := range strings.Split(strings.TrimSpace(tailOut.String()), "\n") {
		if l != "" && !strings.HasPrefix(l, "ready ") {
			r.received = append(r.received, l)
		}
	}
	return r
}

// check asserts that the tail printed exactly the published msg_ids, marked for ACKs or not,
// from pub.host and signed.
func (r swapRun) check(t *testing.T, marked bool) {
	t.Helper()
	if r.pubErr != nil {
		t.Fatalf("publisher: %v\n%s", r.pubErr, r.pubStderr)
	}
	if len(r.published) != 3 || len(r.received) != 3 {
		t.Fatalf("published %q, received %q", r.published, r.received)
	}
	for i, l := range r.received {
		want := fmt.Sprintf("%s %v org.example.test.swap.hello pub.host true", r.published[i], marked)
		if l != want {
			t.Errorf("tail line %d = %q, want %q", i, l, want)
		}
	}
}

// TestImportSwapPrograms builds the programs under testdata/swap, written against publisher and
// consumer, as they are and with their imports switched to ack, and runs them on a relay-less
// bus: as written they publish and tail plainly; swapped, every publish returns only once the
// swapped tail (a real acking consumer in its own process) has ACKed it. A swapped publisher
// facing the plain tail fails naming the recipient that did not ACK, so the ACKs are real.
func TestImportSwapPrograms(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs programs: not in -short mode")
	}
	baseDir, ackDir := t.TempDir(), t.TempDir()
	buildSwap(t, baseDir, false)
	buildSwap(t, ackDir, true)
	bin := func(dir, p string) string { return filepath.Join(dir, p) }
	bus := newSwapBus(t)

	t.Run("as written: plain", func(t *testing.T) {
		bus.run(t, bin(baseDir, "publish"), bus.pubConf, bin(baseDir, "tail")).check(t, false)
	})
	t.Run("swapped: acked, with Tail", func(t *testing.T) {
		bus.run(t, bin(ackDir, "publish"), bus.pubConf, bin(ackDir, "tail")).check(t, true)
	})
	// The one difference in behaviour, documented on Subscriber.Next: in AfterProcessing mode
	// (the default) a Delivery from Next is ACKed when the program calls Done(nil), which a
	// program written against consumer does not do. It runs and gets the message; the publisher
	// reports the missing ACK. (Tail ACKs when its loop body returns, so its loop needs nothing.)
	t.Run("swapped: NewSubscriber and Next deliver, ACK only on Done", func(t *testing.T) {
		r := bus.run(t, bin(ackDir, "publish"), bus.shortAckTimeoutConf, bin(ackDir, "tail"), "-next")
		if r.pubErr == nil || !strings.Contains(r.pubStderr, "missing sub01") {
			t.Fatalf("publisher: %v, want a missing ACK from sub01:\n%s", r.pubErr, r.pubStderr)
		}
		if len(r.received) != 1 || !strings.HasSuffix(r.received[0], " true org.example.test.swap.hello pub.host true") {
			t.Fatalf("tail received %q, want the first message, marked", r.received)
		}
	})
	t.Run("swapped publisher, plain tail: no ACK, an error", func(t *testing.T) {
		r := bus.run(t, bin(ackDir, "publish"), bus.shortAckTimeoutConf, bin(baseDir, "tail"))
		var ee *exec.ExitError
		if !errors.As(r.pubErr, &ee) || ee.ExitCode() != 1 || !strings.Contains(r.pubStderr, "did not ACK") ||
			!strings.Contains(r.pubStderr, "missing sub01") {
			t.Fatalf("publisher: %v, want exit 1 naming sub01 as missing:\n%s", r.pubErr, r.pubStderr)
		}
		if len(r.published) != 0 {
			t.Fatalf("published %q without ACKs", r.published)
		}
	})
}
