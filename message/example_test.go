package message_test

import (
	"fmt"
	"time"

	"github.com/ackmsg/ackmsg/message"
)

func ExampleCanonical() {
	body := map[string]any{"b": 100.0, "a": "café </>", "n": message.Int("18446744073709551616"), "z": 1e-5}
	out, err := message.Canonical(body)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(out))
	// Output: {"a":"caf\u00e9 </>","b":100.0,"n":18446744073709551616,"z":1e-05}
}

func ExampleUnmarshal() {
	v, err := message.Unmarshal([]byte(`{"int": 5, "float": 5.0, "big": 12345678901234567890123, "s": "\ud800"}`))
	if err != nil {
		panic(err)
	}
	m := v.(map[string]any)
	fmt.Printf("%T %T %v %q\n", m["int"], m["float"], m["big"], m["s"])
	out, _ := message.Canonical(v)
	fmt.Println(string(out))
	// Output:
	// message.Int float64 12345678901234567890123 "\xed\xa0\x80"
	// {"big":12345678901234567890123,"float":5.0,"int":5,"s":"\ud800"}
}

func ExampleBuild() {
	topic := message.FullTopic("org.fedoraproject", "dev", "logger", "log")
	m, err := message.Build(topic, map[string]any{"log": "hello"}, 1, "alice", time.Unix(1700000000, 0))
	if err != nil {
		panic(err)
	}
	_ = m.Set(message.FieldCrypto, "x509")
	signed, _ := m.SignedBytes() // what a signer signs; then Set signature and certificate
	fmt.Println(m.Topic())
	fmt.Println(string(signed[:60]))
	// Output:
	// org.fedoraproject.dev.logger.log
	// {"crypto":"x509","i":1,"msg":{"log":"hello"},"msg_id":"2023-
}

func ExampleDecode() {
	frame := []byte(`{"i":1,"msg":{"ratio":1E2},"msg_id":"2024-abc","timestamp":1700000000,"topic":"t","username":"u","signature":"...","certificate":"..."}`)
	m, err := message.Decode(frame)
	if err != nil {
		panic(err)
	}
	signed, _ := m.SignedBytes()
	fmt.Println(string(signed))
	// Output: {"i":1,"msg":{"ratio":100.0},"msg_id":"2024-abc","timestamp":1700000000,"topic":"t","username":"u"}
}
