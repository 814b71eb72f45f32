package integration

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ackmsg/ackmsg/internal/testbus"
)

// TestArchiveWebView runs the real ackmsg-archive with --record-acks: the message page of an
// acked publish shows its signer, that the signature verifies, and the archive itself among
// those who ACKed it (its own ACK, received back from the relay and recorded); a WebSocket
// client speaking moksha's protocol gets a message published while it is subscribed.
func TestArchiveWebView(t *testing.T) {
	b, _, httpAddr := archiveBus(t)
	arch := b.Start("ackmsg-archive", "--certname", "archive", "--record-acks")
	arch.WaitLog(t, "archive running")
	if _, stderr, code := b.Run(30*time.Second, "", "ackmsg-logger", "--recipients", "archive", "--ack-timeout", "20",
		"--topic", "webview", "--message", "<b>seen</b>"); code != 0 {
		t.Fatalf("acked publish to archive: exit %d\n%s", code, stderr)
	}
	code, body := httpGet(t, "http://"+httpAddr+"/raw?topic=org.example.test.logger.webview")
	var raw struct {
		RawMessages []struct {
			MsgID string `json:"msg_id"`
		} `json:"raw_messages"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &raw) != nil || len(raw.RawMessages) != 1 {
		t.Fatalf("/raw: %d %s", code, body)
	}
	page := "http://" + httpAddr + "/web/message?id=" + url.QueryEscape(raw.RawMessages[0].MsgID)
	// The archive's ACK goes out after the commit and comes back through the relay: poll.
	var last string
	testbus.Eventually(t, 20*time.Second, "the archive's own ACK recorded on the message page", func() bool {
		_, last = httpGet(t, page)
		return strings.Contains(last, `<span class="ack">archive</span>`)
	})
	for _, want := range []string{`<td id="signer">logger</td>`, "signature verifies (signed by logger)", "&lt;b&gt;seen&lt;/b&gt;"} {
		if !strings.Contains(last, want) {
			t.Fatalf("message page lacks %s:\n%s", want, last)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+httpAddr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	sub, _ := json.Marshal(map[string]string{"topic": "__topic_subscribe__", "body": "org.example.test.logger.live*"})
	if err := conn.Write(ctx, websocket.MessageText, sub); err != nil {
		t.Fatal(err)
	}
	frames := make(chan []byte, 16)
	go func() {
		defer close(frames)
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				return
			}
			frames <- b
		}
	}()
	// Until the archive has read the subscription a message is not sent: publish until a
	// frame comes (each publish returns once the message is archived).
	for {
		if _, stderr, code := b.Run(30*time.Second, "", "ackmsg-logger", "--recipients", "archive", "--ack-timeout", "20",
			"--topic", "live", "--message", "now"); code != 0 {
			t.Fatalf("acked publish: exit %d\n%s", code, stderr)
		}
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatal("the WebSocket closed")
			}
			var fr struct {
				Topic string         `json:"topic"`
				Body  map[string]any `json:"body"`
			}
			if json.Unmarshal(f, &fr) != nil || fr.Topic != "org.example.test.logger.live" || fr.Body["msg"].(map[string]any)["log"] != "now" {
				t.Fatalf("frame %s", f)
			}
			conn.Close(websocket.StatusNormalClosure, "")
			if code := arch.Stop(t); code != 0 {
				t.Fatalf("SIGTERM: exit %d\n%s", code, arch.Stderr.String())
			}
			return
		case <-time.After(time.Second): // not subscribed yet when it was published: publish again
		case <-ctx.Done():
			t.Fatal("no frame on the live feed")
		}
	}
}
