package message

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// lazySeeds are envelopes and near-envelopes for the skim's every branch.
var lazySeeds = []string{
	`{"topic":"a.b","msg_id":"2026-x","timestamp":1700000000,"msg":{"k":[1,2.5,"x",true,false,null,NaN,-Infinity,Infinity,{}]}}`,
	`{"msg_id":"i","topic":"t","topic":"u"}`,                    // the last topic wins
	`{"to\u0070ic":"t","msg_id":"i","timestamp":1.5e3}`,         // an escaped key
	`{"topic":"\u00e9\ud83d\ude00","msg_id":"\ud800","x":"\/"}`, // escaped values
	` {"topic":"t","msg_id":"i"} `,
	`{"topic":"t","msg_id":"i","timestamp":"1"}`,
	`{"topic":"t","msg_id":"i","n":-0,"f":1e400,"g":-1E-5}`,
	`{"topic":1,"msg_id":"i"}`,
	`{"topic":"t"}`,
	`{"topic":"t","msg_id":"i",}`,
	`{"topic":"t","msg_id":"i","a":[1,]}`,
	`{"topic":"t","msg_id":"i","a":01}`,
	`{"topic":"t","msg_id":"i","a":"` + "\x01" + `"}`,
	`{"topic":"t","msg_id":"i","a":"\x"}`,
	`{"topic":"t","msg_id":"i","a":"\u12"}`,
	`{"topic":"t","msg_id":"i","a":` + strings.Repeat("9", MaxIntDigits+1) + `}`,
	`{"topic":"t","msg_id":"i","a":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `}`,
	`{"topic":"t","msg_id":"i","a":` + strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1) + `}`,
	`{"topic":"t","msg_id":"i"} x`,
	"\xef\xbb\xbf{\"topic\":\"t\",\"msg_id\":\"i\"}",
	`{"topic":"t","msg_id":"i","a":"` + "\xff" + `"}`,
	`[]`, `{}`, `{ }`, ``, `{"topic":"t","msg_id":"i","a":tru}`, `{"topic":"t","msg_id":"i","a":-}`,
	`{"topic":"t","msg_id":"i","a":{"b":1 "c":2}}`, `{"topic":"t","msg_id":"i","a":{1:2}}`,
}

// FuzzDecodeLazy holds DecodeLazy to Decode: the same inputs accepted, the same errors, and for an
// accepted envelope the same Topic, MsgID and Timestamp before decoding and the same fields after.
// Seeds: lazySeeds and testdata/fuzz/FuzzDecodeLazy.
func FuzzDecodeLazy(f *testing.F) {
	for _, s := range lazySeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := Decode(data)
		got, gerr := DecodeLazy(bytes.Clone(data))
		if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
			t.Fatalf("%q: DecodeLazy error %v, Decode error %v", data, gerr, werr)
		}
		if werr != nil {
			return
		}
		if got.Topic() != want.Topic() || got.MsgID() != want.MsgID() || got.Timestamp() != want.Timestamp() {
			t.Fatalf("%q: head %q %q %d, Decode's %q %q %d", data, got.Topic(), got.MsgID(), got.Timestamp(),
				want.Topic(), want.MsgID(), want.Timestamp())
		}
		wb, err1 := want.Marshal()
		gb, err2 := got.Marshal()
		if !bytes.Equal(wb, gb) || (err1 == nil) != (err2 == nil) {
			t.Fatalf("%q: fields encode to %q (%v), Decode's to %q (%v)", data, gb, err2, wb, err1)
		}
		if got.Topic() != want.Topic() || got.MsgID() != want.MsgID() || got.Timestamp() != want.Timestamp() {
			t.Fatalf("%q: decoded head differs", data)
		}
	})
}

// A bus envelope takes the skim's path (nothing is decoded until asked for), and Decode's fields
// come out once one is.
func TestDecodeLazyDefersDecoding(t *testing.T) {
	m, err := Build("org.example.t", map[string]any{"pad": strings.Repeat("x", 2000), "n": 1}, 7, "u", time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	frame, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	l, err := DecodeLazy(frame)
	if err != nil {
		t.Fatal(err)
	}
	if l.lazy == nil || l.fields != nil {
		t.Fatal("DecodeLazy decoded a plain envelope on receipt")
	}
	for _, seed := range lazySeeds[:6] {
		if m, err := DecodeLazy([]byte(seed)); err != nil || m.lazy == nil {
			t.Errorf("%s: decoded on receipt (%v)", seed, err)
		}
	}
	if l.Topic() != "org.example.t" || l.MsgID() != m.MsgID() || l.Timestamp() != 1700000000 || l.fields != nil {
		t.Fatalf("head %q %q %d, or it decoded for them", l.Topic(), l.MsgID(), l.Timestamp())
	}
	if l.I() != 7 || l.Username() != "u" || l.fields == nil {
		t.Fatalf("i %d, username %q", l.I(), l.Username())
	}
	if err := l.Set(FieldTopic, "other"); err != nil || l.Topic() != "other" {
		t.Fatalf("after Set, Topic = %q (%v)", l.Topic(), err)
	}
}

// Readers of one lazily decoded Message on several goroutines all see its fields (run with -race).
func TestDecodeLazyConcurrentReaders(t *testing.T) {
	frame := []byte(`{"topic":"t","msg_id":"i","msg":{"a":[1,2,3]},"i":4}`)
	m, err := DecodeLazy(frame)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if m.I() != 4 || m.Topic() != "t" || m.Body() == nil {
				t.Error("a reader saw a field missing")
			}
		})
	}
	wg.Wait()
}
