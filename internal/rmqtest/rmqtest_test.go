package rmqtest

import (
	"context"
	"os"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// A persistent message in a durable queue survives Restart, on the same URL.
func TestRestartKeepsDurableMessages(t *testing.T) {
	url := URL(t)
	q := Name("rmqtest")
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", q, true, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("kept")})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := dc.WaitContext(ctx); err != nil || !ok {
		t.Fatalf("confirm: %v %v", ok, err)
	}
	conn.Close()

	Restart(t)

	conn, err = amqp.Dial(URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err = conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	m, ok, err := ch.Get(q, true)
	if err != nil || !ok || string(m.Body) != "kept" {
		t.Fatalf("after restart: %q %v %v", m.Body, ok, err)
	}
}

// A three-node cluster forms; a quorum queue on it keeps its confirmed messages when its leader
// is killed with SIGKILL, and the node rejoins when started again.
func TestClusterQuorumQueueSurvivesLeaderKill(t *testing.T) {
	c := NewCluster(t, 3)
	conn := c.Dial(t)
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q := Name("quorum")
	if _, err := ch.QueueDeclare(q, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 10 {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", q, true, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); err != nil || !ok {
			t.Fatalf("confirm: %v %v", ok, err)
		}
	}
	conn.Close()
	leader := c.Leader(t, q)
	c.Kill(t, leader)
	conn2 := c.Dial(t)
	defer conn2.Close()
	ch2, err := conn2.Channel()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		qi, err := ch2.QueueDeclarePassive(q, true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
		if err == nil && qi.Messages == 10 {
			break
		}
		if err != nil { // the channel is closed by a failed passive declare
			if ch2, err = conn2.Channel(); err != nil {
				t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after killing the leader (node %d): %+v %v, want 10 messages", leader, qi, err)
		}
		time.Sleep(100 * time.Millisecond) // polling: a new leader is elected within seconds
	}
	// A publish confirmed after the kill: the queue has a new leader.
	if err := ch2.Confirm(false); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		dc, err := ch2.PublishWithDeferredConfirmWithContext(ctx, "", q, true, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("after")})
		if err != nil {
			t.Fatal(err)
		}
		ok, err := dc.WaitContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%v after the kill: confirm %v", time.Since(start), ok)
		if ok {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatal("nacked for 30 s after the leader's kill")
		}
		time.Sleep(500 * time.Millisecond)
	}
	c.Start(t, leader)
	if got := c.Leader(t, q); got < 0 {
		t.Fatal("no leader")
	}
}
