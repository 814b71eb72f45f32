// Command zmqecho is the far end of BenchmarkRawZMQRoundTripProcess: the raw ZeroMQ round trip
// to another process, on bare pebbe/zmq4 sockets used by one locked thread. It binds an XPUB on
// -bind, connects a SUB to -connect subscribed to -topic, prints "ready" once the benchmark's
// SUB has subscribed to it, and answers every two-frame message with the frames -reply-topic
// and the message's second frame, until a one-frame message arrives.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	zmq "github.com/pebbe/zmq4"
)

func main() {
	bind := flag.String("bind", "", "address the reply XPUB binds")
	connect := flag.String("connect", "", "address the SUB connects to")
	topic := flag.String("topic", "", "topic the SUB subscribes to")
	replyTopic := flag.String("reply-topic", "", "frame 1 of every reply")
	flag.Parse()
	if err := run(*bind, *connect, *topic, *replyTopic); err != nil {
		fmt.Fprintln(os.Stderr, "zmqecho:", err)
		os.Exit(1)
	}
}

func run(bind, connect, topic, replyTopic string) error {
	runtime.LockOSThread()
	zctx, err := zmq.NewContext()
	if err != nil {
		return err
	}
	defer zctx.Term()
	pub, err := zctx.NewSocket(zmq.XPUB)
	if err != nil {
		return err
	}
	defer pub.Close()
	sub, err := zctx.NewSocket(zmq.SUB)
	if err != nil {
		return err
	}
	defer sub.Close()
	for _, err := range []error{pub.SetLinger(0), sub.SetLinger(0), pub.Bind(bind), sub.SetSubscribe(topic), sub.Connect(connect)} {
		if err != nil {
			return err
		}
	}
	if _, err := pub.RecvBytes(0); err != nil { // the benchmark's subscription to the replies
		return err
	}
	fmt.Println("ready")
	for {
		frames, err := sub.RecvMessageBytes(0)
		if err != nil {
			return err
		}
		if len(frames) != 2 {
			return nil
		}
		if _, err := pub.SendMessage(replyTopic, frames[1]); err != nil {
			return err
		}
	}
}
