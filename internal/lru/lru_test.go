package lru

import (
	"fmt"
	"slices"
	"testing"
)

// op is one step of a scenario: "add" key=val, "get"/"peek" key expecting want (ok false when
// want is -1).
type op struct {
	do   string
	key  string
	val  int
	want int
}

// keys returns the Window's keys, most recent first, checking that its list and map agree.
func keys(t *testing.T, w *Window[string, int]) []string {
	t.Helper()
	var out []string
	for e := w.order.Front(); e != nil; e = e.Next() {
		out = append(out, e.Value.(*entry[string, int]).key)
	}
	if len(out) != len(w.byKey) || len(out) != w.Len() {
		t.Fatalf("list %d, map %d, Len %d: out of step", len(out), len(w.byKey), w.Len())
	}
	return out
}

func TestWindow(t *testing.T) {
	tests := []struct {
		name string
		n    int
		ops  []op
		want []string // keys held at the end, most recent first
	}{
		{"empty", 3, nil, nil},
		{"absent key", 3, []op{{do: "get", key: "a", want: -1}, {do: "peek", key: "a", want: -1}}, nil},
		{"under capacity keeps all", 3, []op{{do: "add", key: "a", val: 1}, {do: "add", key: "b", val: 2}}, []string{"b", "a"}},
		{"full evicts the least recently added", 2, []op{
			{do: "add", key: "a", val: 1}, {do: "add", key: "b", val: 2}, {do: "add", key: "c", val: 3},
			{do: "get", key: "a", want: -1}, {do: "get", key: "b", want: 2},
		}, []string{"b", "c"}},
		{"get refreshes", 2, []op{
			{do: "add", key: "a", val: 1}, {do: "add", key: "b", val: 2}, {do: "get", key: "a", want: 1},
			{do: "add", key: "c", val: 3}, {do: "peek", key: "b", want: -1},
		}, []string{"c", "a"}},
		{"peek does not refresh", 2, []op{
			{do: "add", key: "a", val: 1}, {do: "add", key: "b", val: 2}, {do: "peek", key: "a", want: 1},
			{do: "add", key: "c", val: 3}, {do: "peek", key: "a", want: -1},
		}, []string{"c", "b"}},
		{"re-add refreshes and replaces, evicts nothing", 2, []op{
			{do: "add", key: "a", val: 1}, {do: "add", key: "b", val: 2}, {do: "add", key: "a", val: 10},
			{do: "peek", key: "a", want: 10}, {do: "add", key: "c", val: 3}, {do: "peek", key: "b", want: -1},
		}, []string{"c", "a"}},
		{"capacity below one is one", 0, []op{
			{do: "add", key: "a", val: 1}, {do: "add", key: "b", val: 2}, {do: "get", key: "a", want: -1},
		}, []string{"b"}},
		{"negative capacity is one", -5, []op{{do: "add", key: "a", val: 1}}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := New[string, int](tt.n)
			for i, o := range tt.ops {
				var v int
				var ok bool
				switch o.do {
				case "add":
					w.Add(o.key, o.val)
					continue
				case "get":
					v, ok = w.Get(o.key)
				case "peek":
					v, ok = w.Peek(o.key)
				default:
					t.Fatalf("op %d: unknown %q", i, o.do)
				}
				if o.want == -1 {
					if ok {
						t.Fatalf("op %d %s(%s) = %d, want absent", i, o.do, o.key, v)
					}
				} else if !ok || v != o.want {
					t.Fatalf("op %d %s(%s) = %d, %v; want %d", i, o.do, o.key, v, ok, o.want)
				}
			}
			if got := keys(t, w); !slices.Equal(got, tt.want) {
				t.Fatalf("keys %v, want %v", got, tt.want)
			}
		})
	}
}

// Callers keep pointers and change the value in place, through Get or Peek, without Add.
func TestWindowPointerValuesAreShared(t *testing.T) {
	type state struct{ n int }
	w := New[string, *state](2)
	w.Add("a", &state{})
	p, _ := w.Peek("a")
	p.n++
	if q, _ := w.Get("a"); q != p || q.n != 1 {
		t.Fatalf("Get returned %+v, want the same pointer with n=1", q)
	}
	if v, ok := w.Get("b"); ok || v != nil {
		t.Fatalf("absent key: %v, %v; want nil, false", v, ok)
	}
}

// However many keys pass through, the memory stays at n entries.
func TestWindowStaysBounded(t *testing.T) {
	w := New[string, int](3)
	for i := range 10000 {
		w.Add(fmt.Sprint("x", i), i)
	}
	if got := keys(t, w); !slices.Equal(got, []string{"x9999", "x9998", "x9997"}) {
		t.Fatalf("keys %v", got)
	}
}
