#!/usr/bin/env python3
"""Drive the real Python fedora-messaging (3.x) against ackmsg-bridge and a RabbitMQ broker.

Used by integration/fedora_messaging_interop_test.go; see README.md beside this file.
fedora-messaging is NOT part of this repository: put a release's fedora_messaging package (with
its dist-info) on PYTHONPATH (the Go test uses $ACKMSG_FEDORA_MESSAGING_PATH).

fedora-messaging reads its configuration the way it always does, from the TOML file named by
$FEDORA_MESSAGING_CONF (the Go test writes one with the test broker's amqp_url). Every mode
prints one JSON object per line on stdout: {"event": ...}; fedora-messaging's own log goes to
stderr. Exit status 0 means the mode did what it was asked; anything else is a failure the test
reports with stderr.

Modes:
  check                       import fedora_messaging and print its version, file and pika's
  reference                   the headers and properties fedora-messaging itself puts on a base
                              message (Message(topic, body) as api.publish would send it)
  consume --queue Q --bind K  fedora_messaging.api.consume on a durable queue Q bound to
          --count N           amq.topic with K (declared by fedora-messaging itself, as its
          [--passive]         [queues] and [[bindings]] configuration would; --passive only
          [--queue-arg K=V]   checks that it exists, and each --queue-arg, e.g.
                              x-queue-type=quorum, is one of its arguments); for each message
                              the callback receives, print its id, topic, body, severity,
                              headers, properties and whether validate() and a dumps/loads
                              round trip pass; after N, raise HaltConsumer (the message is
                              acked first) and exit 0
  publish TOPIC JSON...       fedora_messaging.api.publish(Message(topic=TOPIC, body=JSON)) for
                              each pair; print each message's id and headers once the broker
                              confirmed it
Every mode gives up after --timeout seconds (exit 3), so a message fedora-messaging's consumer
silently drops (it nacks without requeue what fails validation) is a failure, not a hang.
"""

import argparse
import json
import logging
import os
import sys
import threading


def emit(event, **kw):
    kw["event"] = event
    sys.stdout.write(json.dumps(kw, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def deadline(seconds, what):
    """Exit 3 after seconds: every mode is bounded in time even if the broker never answers."""

    def expire():
        emit("timeout", what=what, seconds=seconds)
        sys.stderr.flush()
        os._exit(3)

    t = threading.Timer(seconds, expire)
    t.daemon = True
    t.start()


def properties_of(props):
    return {
        "content_type": props.content_type,
        "content_encoding": props.content_encoding,
        "delivery_mode": props.delivery_mode,
        "message_id": props.message_id,
        "priority": props.priority,
        "timestamp": props.timestamp,
    }


def cmd_check(args):
    import importlib.metadata

    try:
        import fedora_messaging
    except importlib.metadata.PackageNotFoundError as e:
        sys.exit("fedora_messaging imports but its distribution metadata is missing (%s): add "
                 "fedora_messaging-VERSION.dist-info/ beside the package (integration/python/README.md)" % e)
    from fedora_messaging import api, message  # noqa: F401  (imports twisted, crochet, pika, jsonschema)

    # The base schema must be registered through the "fedora.messages" entry point, as an
    # installed fedora-messaging registers it: publishing a Message needs get_name().
    try:
        name = message.get_name(message.Message)
    except TypeError as e:
        sys.exit("fedora_messaging's 'fedora.messages' entry point is missing: %s" % e)
    emit("check", version=fedora_messaging.__version__, file=fedora_messaging.__file__,
         pika=importlib.metadata.version("pika"), jsonschema=importlib.metadata.version("jsonschema"),
         twisted=importlib.metadata.version("twisted"), base_schema=name)


def cmd_reference(args):
    from fedora_messaging import api

    m = api.Message(topic="reference.topic", body={"k": "v"})
    m.validate()
    emit("reference", headers=m._headers, properties=properties_of(m._properties), severity=m.severity)


def cmd_consume(args):
    from fedora_messaging import api, exceptions, message as fm_message

    deadline(args.timeout, "%d messages on queue %s" % (args.count, args.queue))
    seen = []

    def callback(msg):
        # Called by fedora-messaging's consumer with what fedora_messaging.message.get_message
        # made of the AMQP delivery (and which already passed validate(), else it would have been
        # dropped before reaching us); validate again so the result is on the record.
        ev = {
            "class": "%s.%s" % (type(msg).__module__, type(msg).__qualname__),
            "id": msg.id,
            "topic": msg.topic,
            "body": msg.body,
            "severity": msg.severity,
            "priority": msg.priority,
            "queue": msg.queue,
            "summary": msg.summary,
            "headers": msg._headers,
            "properties": properties_of(msg._properties),
        }
        try:
            msg.validate()
            ev["validate"] = True
        except Exception as e:  # jsonschema.ValidationError, reported rather than raised
            ev["validate"] = False
            ev["validate_error"] = repr(e)
        try:
            # The serialisation `fedora-messaging consume --callback-file`/`record` and
            # `fedora-messaging publish FILE` use.
            again = fm_message.loads(fm_message.dumps(msg))[0]
            ev["roundtrip"] = again == msg and again.id == msg.id
        except Exception as e:
            ev["roundtrip"] = False
            ev["roundtrip_error"] = repr(e)
        emit("received", **ev)
        seen.append(msg.id)
        if len(seen) >= args.count:
            raise exceptions.HaltConsumer(exit_code=0, reason="received %d" % len(seen))

    bindings = [{"exchange": args.exchange, "queue": args.queue, "routing_keys": args.bind}]
    arguments = dict(kv.split("=", 1) for kv in args.queue_arg)
    queues = {args.queue: {"durable": True, "auto_delete": False, "exclusive": False, "arguments": arguments}}
    if args.passive:
        queues[args.queue]["passive"] = True
    emit("consuming", queue=args.queue, bindings=args.bind, arguments=arguments, passive=args.passive)
    try:
        api.consume(callback, bindings=bindings, queues=queues)
    except exceptions.HaltConsumer as e:
        emit("halted", exit_code=e.exit_code, reason=e.reason, received=len(seen))
        sys.exit(e.exit_code)
    sys.exit("api.consume returned without HaltConsumer")


def cmd_publish(args):
    from fedora_messaging import api

    if len(args.pairs) % 2:
        sys.exit("publish: TOPIC JSON pairs expected")
    deadline(args.timeout, "publishing")
    for topic, body in zip(args.pairs[0::2], args.pairs[1::2]):
        m = api.Message(topic=topic, body=json.loads(body))
        api.publish(m, timeout=max(1, args.timeout - 5))  # returns once the broker confirmed it
        emit("published", id=m.id, topic=m.topic, routing_key=m._encoded_routing_key.decode(), body=m.body,
             wire=m._encoded_body.decode(), headers=m._headers, properties=properties_of(m._properties))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timeout", type=int, default=60, help="seconds before giving up (exit 3)")
    sp = p.add_subparsers(dest="mode", required=True)
    sp.add_parser("check")
    sp.add_parser("reference")
    s = sp.add_parser("consume")
    s.add_argument("--queue", required=True)
    s.add_argument("--bind", action="append", required=True)
    s.add_argument("--exchange", default="amq.topic")
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--passive", action="store_true")
    s.add_argument("--queue-arg", action="append", default=[], metavar="KEY=VALUE")
    s = sp.add_parser("publish")
    s.add_argument("pairs", nargs="+", metavar="TOPIC JSON")
    args = p.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s [%(name)s %(levelname)s] %(message)s")
    {"check": cmd_check, "reference": cmd_reference, "consume": cmd_consume, "publish": cmd_publish}[args.mode](args)


if __name__ == "__main__":
    main()
