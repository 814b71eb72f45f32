#!/usr/bin/env python3
"""Drive the real Python fedmsg 1.1 and gilmsg 0.1.2 against ackmsg's binaries.

Used by integration/python_interop_test.go; see README.md beside this file. fedmsg and gilmsg are
NOT part of this repository: put a checkout of each on PYTHONPATH (the Go test uses
$ACKMSG_FEDMSG_PATH).

Every mode reads its fedmsg configuration the way fedmsg does, from ./fedmsg.d/*.py in the
working directory (the Go test writes one), and prints one JSON object per line on stdout:
{"event": ...}. Lines read from stdin are commands ("go"). Exit status 0 means the mode did what
it was asked; anything else is a failure the test reports with stderr.

Modes:
  check             import fedmsg and gilmsg (with the shims below) and print their versions
  vectors FILE PKI  re-sign and re-validate the shared fedmsg 1.1.7 vectors with this fedmsg
  pub               fedmsg.publish signed messages (passive bind, or --active through a relay)
  tail              fedmsg.tail_messages, printing each message and fedmsg.crypto.validate()
  gil-tail          gilmsg.tail_messages (an ACKing consumer), printing each message
  gil-pub           gilmsg.publish(..., recipients=[...]) and report whether it was ACKed
  relay             a fedmsg-relay stand-in: re-serialises frame 2 with json.dumps defaults
  replay-tail       fedmsg.tail_messages with replay_endpoints (fedmsg's own gap handling),
                    printing each message with its seq_id and fedmsg.crypto.validate(); after the
                    message whose body is {"log": --stop-body}, fedmsg.replay.get_replay() of
                    that seq_id and the next, validating each envelope of the reply
  replay-pub        fedmsg.publish with a persistent_store (SqlStore's semantics, in memory) and
                    fedmsg's ReplayContext serving it; stdin lines "pub TEXT" publish {"log": TEXT}
  dg-replay         the real fedmsg-dg-replay --msg-id ID --datagrepper-url URL (an archive's URL):
                    fetches /id and re-publishes the message through relay_inbound
"""

import argparse
import copy
import json
import os
import sys
import threading
import time
import types


# --------------------------------------------------------------------------------------------
# Shims. Each one works around a known defect of the Python side (numbers from
# shared/spec/fedmsg-gilmsg-reference.md section 7.6), never a behaviour under test.

def install_shims():
    # gilmsg bug #1: gilmsg.publish calls Thread.isAlive(), removed in Python 3.9.
    if not hasattr(threading.Thread, "isAlive"):
        threading.Thread.isAlive = threading.Thread.is_alive

    # gilmsg imports fedmsg.consumers (moksha.hub) and fedmsg.commands.logger only to subclass
    # GilmsgConsumer and gilmsg-logger, which these tests do not use. Stub them only when the
    # real modules cannot be imported (moksha is not installed).
    try:
        import fedmsg.consumers  # noqa: F401
    except ImportError:
        mod = types.ModuleType("fedmsg.consumers")

        class FedmsgConsumer(object):
            """Stub: moksha.hub is not installed."""

            def pre_consume(self, m):
                pass

        mod.FedmsgConsumer = FedmsgConsumer
        sys.modules["fedmsg.consumers"] = mod
        sys.modules["fedmsg"].consumers = mod
    try:
        import fedmsg.commands.logger  # noqa: F401
    except ImportError:
        pkg = sys.modules.get("fedmsg.commands") or types.ModuleType("fedmsg.commands")
        mod = types.ModuleType("fedmsg.commands.logger")

        class LoggerCommand(object):
            """Stub: the fedmsg commands are not installed."""
            extra_args = []

        mod.LoggerCommand = LoggerCommand
        pkg.logger = mod
        sys.modules["fedmsg.commands"] = pkg
        sys.modules["fedmsg.commands.logger"] = mod
        sys.modules["fedmsg"].commands = pkg

    # gilmsg bug #19: gilmsg reads its version with pkg_resources.get_distribution('gilmsg'),
    # which fails unless gilmsg is installed as a distribution. A checkout on PYTHONPATH needs a
    # gilmsg-0.1.2.dist-info beside it (README.md); failing that, answer for it here.
    import pkg_resources
    try:
        pkg_resources.get_distribution("gilmsg")
    except pkg_resources.DistributionNotFound:
        real = pkg_resources.get_distribution

        def get_distribution(name):
            if name == "gilmsg":
                return types.SimpleNamespace(version="0.1.2")
            return real(name)

        pkg_resources.get_distribution = get_distribution


def emit(event, **kw):
    kw["event"] = event
    sys.stdout.write(json.dumps(kw, sort_keys=True) + "\n")
    sys.stdout.flush()


def fedmsg_config():
    """The merged fedmsg config (defaults < ./fedmsg.d/*.py), as fedmsg.init reads it.

    A deep copy: fedmsg.init mutates the cached dict (gilmsg bug #5), and gilmsg needs the config
    passed as keyword arguments.
    """
    import fedmsg.config
    return copy.deepcopy(fedmsg.config.load_config())


class Commands(object):
    """Lines from stdin, read in the background."""

    def __init__(self):
        self.go = threading.Event()
        t = threading.Thread(target=self._read, daemon=True)
        t.start()

    def _read(self):
        for line in sys.stdin:
            if line.strip() == "go":
                self.go.set()
        self.go.set()  # stdin closed: go as well, so nothing waits forever


# Bodies published by the Python side: every JSON shape fedmsg emits, and the values whose
# encoding differs between Python and naive JSON libraries (shared/spec/wire.md section 3).
BODIES = [
    {"log": "plain ascii"},
    {"text": u"caf\u00e9 <b> & \U0001F600 \u2028 \u007f \ufeff", "ctl": "a\tb\nc\u0001", "slash": "a/b"},
    {"f": 100.0, "small": 1e-05, "e16": 1e16, "neg0": -0.0, "third": 1.0 / 3, "tiny": 5e-324,
     "big": 2 ** 64, "neg": -5, "zero": 0},
    {"nested": {"b": [1, 2.5, None, True, False, {"z": u"\u00e9"}], "a": {}, "c": []},
     u"key_\u00e9": 1, u"\uffff": 2, u"\U0001F600": 3, "B": 4, "_": 5},
    {"nan": float("nan"), "inf": float("inf"), "minf": float("-inf")},
    {"lone": u"\ud800", "reversed": u"\udc00\ud800"},
    u"a string body \u00e9",
    [1, "two", 3.0],
    {},
]


def cmd_check(args):
    install_shims()
    import fedmsg
    import fedmsg.core
    import fedmsg.crypto
    import gilmsg
    import zmq
    emit("versions", python=sys.version.split()[0], zmq=zmq.zmq_version(), pyzmq=zmq.__version__,
         gilmsg=gilmsg.gilmsg_version, fedmsg_path=os.path.dirname(os.path.dirname(fedmsg.__file__)),
         pre_fire_hook="pre_fire_hook" in fedmsg.core.FedMsgContext.publish.__code__.co_varnames,
         validate_signed_by=hasattr(fedmsg.crypto, "validate_signed_by"))
    return 0


def cmd_vectors(args):
    """The vectors were made by fedmsg 1.1.7 itself: this fedmsg must reproduce them."""
    install_shims()
    import fedmsg.crypto
    import fedmsg.encoding

    lines = [json.loads(l) for l in open(args.file)]
    meta = [l for l in lines if l["kind"] == "meta"][0]
    cfg = dict(meta["validate_config"])
    cfg["ssldir"] = args.pki
    cfg["ca_cert_location"] = os.path.join(args.pki, "ca.crt")
    cfg["crl_location"] = os.path.join(args.pki, "crl.pem")
    bad = []
    n_sign = n_check = 0
    for l in lines:
        if l["kind"] == "sign":
            n_sign += 1
            env = fedmsg.encoding.loads(l["wire_json"])
            for k in ("signature", "certificate", "crypto"):
                env.pop(k, None)
            signed = fedmsg.crypto.sign(env, certname=l["signer"], **cfg)
            for k in ("signature", "certificate"):
                if signed[k] != l[k]:
                    bad.append("%s: %s differs" % (l["name"], k))
            if fedmsg.encoding.dumps(signed) != l["wire_json"]:
                bad.append("%s: wire JSON differs" % l["name"])
        if l["kind"] in ("sign", "tamper"):
            n_check += 1
            c = dict(cfg)
            if "without-crl" in l["name"]:
                c["crl_location"] = None
            try:
                got = fedmsg.crypto.validate(fedmsg.encoding.loads(l["wire_json"]), **c)
            except Exception as e:  # fedmsg raises on some malformed inputs
                got = "raised %s" % type(e).__name__
            if got != l["validate"]:
                bad.append("%s: validate %r, fedmsg 1.1.7 said %r" % (l["name"], got, l["validate"]))
            for signer, want in sorted((l.get("validate_signed_by") or {}).items()):
                try:
                    got = fedmsg.crypto.validate_signed_by(fedmsg.encoding.loads(l["wire_json"]), signer, **c)
                except Exception as e:
                    got = "raised %s" % type(e).__name__
                if got != want:
                    bad.append("%s: validate_signed_by(%s) %r, fedmsg 1.1.7 said %r" % (l["name"], signer, got, want))
    emit("vectors", signed=n_sign, checked=n_check, mismatches=bad,
         vectors_fedmsg_commit=meta.get("fedmsg_commit"))
    return 1 if bad else 0


def cmd_pub(args):
    """Signed fedmsg publisher. Sends probes until "go" on stdin, then BODIES, then exits."""
    install_shims()
    import fedmsg
    import fedmsg.encoding

    kw = {}
    if args.active:
        kw.update(active=True, cert_prefix=args.cert_prefix)  # as fedmsg-logger --cert-prefix
    else:
        kw.update(name=args.name)
    fedmsg.init(**kw)
    cmds = Commands()
    emit("ready")

    sent = []

    def capture(msg):  # called by fedmsg.publish with the final (signed) envelope
        sent.append(fedmsg.encoding.dumps(msg))

    n = 0
    while not cmds.go.is_set():
        n += 1
        fedmsg.publish(topic="probe", msg={"probe": n}, modname=args.modname)
        cmds.go.wait(0.1)  # pacing: a probe every 100 ms until the Go side has seen one
    for body in BODIES:
        del sent[:]
        fedmsg.publish(topic=args.topic, msg=body, modname=args.modname, pre_fire_hook=capture)
        emit("published", wire=sent[0])
    emit("done")
    time.sleep(args.linger)  # a bind-mode PUB drops queued frames if the process exits at once
    return 0


def cmd_tail(args):
    """fedmsg.tail_messages as fedmsg-tail runs it; prints each message with the verdicts."""
    install_shims()
    import fedmsg
    import fedmsg.crypto
    import fedmsg.encoding

    cfg = fedmsg_config()
    cfg["validate_signatures"] = args.validate
    emit("starting")
    seen = 0
    for name, ep, topic, msg in fedmsg.tail_messages(topic=args.topic, name="relay_inbound",
                                                     mute=True, validate_signatures=args.validate):
        probe = ".probe" in topic
        out = dict(endpoint=name, topic=topic, probe=probe, envelope_topic=msg.get("topic"),
                   body=fedmsg.encoding.dumps(msg.get("msg")), gilmsg="gilmsg_version" in msg,
                   validate=fedmsg.crypto.validate(msg, **cfg))
        if args.signer:
            out["signed_by"] = fedmsg.crypto.validate_signed_by(msg, args.signer, **cfg)
        emit("received", **out)
        if not probe:
            seen += 1
            if seen >= args.count:
                break
    emit("done")
    return 0


def cmd_replay_tail(args):
    """fedmsg's replay client against an ackmsg replay endpoint."""
    install_shims()
    import fedmsg
    import fedmsg.crypto
    import fedmsg.replay

    cfg = fedmsg_config()
    emit("starting", replay_endpoints=cfg.get("replay_endpoints", {}))
    for name, ep, topic, msg in fedmsg.tail_messages(topic=args.topic, name="relay_inbound",
                                                     mute=True, validate_signatures=True):
        body = msg.get("msg")
        emit("received", endpoint=name, topic=topic, seq_id=msg.get("seq_id"), msg_id=msg.get("msg_id"),
             body=body, validate=fedmsg.crypto.validate(msg, **cfg))
        if isinstance(body, dict) and body.get("log") == args.stop_body:
            seq = msg["seq_id"]
            for m in fedmsg.replay.get_replay(name, {"seq_ids": [seq, seq + 1]}, cfg):
                emit("replayed", seq_id=m.get("seq_id"), msg_id=m.get("msg_id"), body=m.get("msg"),
                     validate=fedmsg.crypto.validate(m, **cfg))
            break
    emit("done")
    return 0


class MemoryStore(object):
    """fedmsg.replay.sqlstore.SqlStore's behaviour without SQLAlchemy: add() numbers the (already
    signed) envelope, get() OR-s the predicates, raises ValueError with SqlStore's texts, and
    fails every seq_id_range query as SqlStore does (its column-name typo)."""

    def __init__(self):
        self.msgs = []
        self.lock = threading.Lock()

    def add(self, msg):
        with self.lock:
            msg["seq_id"] = len(self.msgs) + 1
            self.msgs.append(json.dumps(msg))
        return msg

    def get(self, query):
        preds = []
        for key, value in query.items():
            if key == "seq_ids":
                preds.append(lambda m, v=value: m["seq_id"] in v)
            elif key == "seq_id":
                preds.append(lambda m, v=value: m["seq_id"] == v)
            elif key == "msg_ids":
                preds.append(lambda m, v=value: m["msg_id"] in v)
            elif key == "msg_id":
                preds.append(lambda m, v=value: m["msg_id"] == v)
            elif key == "time":
                preds.append(lambda m, v=value: v[0] <= m["timestamp"] <= v[1])
            elif key == "seq_id_range":
                raise ValueError('Something went wrong when processing the field "seq_id_range"')
            else:
                raise ValueError('Unsupported field: "key"')
        with self.lock:
            ret = [json.loads(m) for m in self.msgs if any(p(json.loads(m)) for p in preds)]
        if not ret:
            raise ValueError("There was no match for the given query")
        return ret


def cmd_replay_pub(args):
    """A fedmsg publisher with a persistent store and its ReplayContext."""
    install_shims()
    import fedmsg
    import fedmsg.replay

    cfg = fedmsg_config()
    cfg["name"] = args.name
    cfg["persistent_store"] = MemoryStore()
    fedmsg.init(**copy.copy(cfg))
    ctx = fedmsg.replay.ReplayContext(**copy.copy(cfg))
    threading.Thread(target=ctx.listen, daemon=True).start()
    emit("ready")
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.startswith("pub "):
            continue
        sent = {}
        fedmsg.publish(topic="work", msg={"log": line[4:]}, modname=args.modname,
                       pre_fire_hook=lambda m: sent.update(m))
        emit("published", seq_id=sent.get("seq_id"), msg_id=sent.get("msg_id"))
    emit("done")
    os._exit(0)  # the ReplayContext thread never ends


def cmd_gil_tail(args):
    """gilmsg.tail_messages: ACKs every message carrying gilmsg_version, then yields it."""
    install_shims()
    import fedmsg.crypto
    import fedmsg.encoding
    import gilmsg

    cfg = fedmsg_config()
    cfg["validate_signatures"] = args.validate
    emit("starting")
    seen = 0
    for name, ep, topic, msg in gilmsg.tail_messages(topic=args.topic, **cfg):
        emit("received", endpoint=name, topic=topic, msg_id=msg.get("msg_id"),
             body=fedmsg.encoding.dumps(msg.get("msg")), gilmsg=msg.get("gilmsg_version"),
             acked="gilmsg_version" in msg, validate=fedmsg.crypto.validate(msg, **cfg))
        if "gilmsg_version" in msg:
            seen += 1
            if seen >= args.count:
                break
    emit("done")
    time.sleep(args.linger)  # let the last ACK leave the bind-mode PUB
    return 0


def cmd_gil_pub(args):
    """gilmsg.publish with recipients. Probes (plain fedmsg, unmarked) until "go" on stdin."""
    install_shims()
    import gilmsg

    cfg = fedmsg_config()  # gilmsg needs topic_prefix, environment, post_init_sleep in kwargs
    cmds = Commands()
    emit("ready")
    n = 0
    while not cmds.go.is_set():
        n += 1
        # No recipients: gilmsg warns and calls fedmsg.publish, which initialises the main
        # thread's context under the same guessed name (gilmsg.<host>) the real publish uses.
        gilmsg.publish(topic="probe", msg={"probe": n}, modname=args.modname, recipients=None,
                       **copy.deepcopy(cfg))
        cmds.go.wait(0.1)
    body = {"text": u"from gilmsg \u00e9", "f": 1.5, "n": 2 ** 70}
    start = time.time()
    try:
        gilmsg.publish(topic=args.topic, msg=body, modname=args.modname,
                       recipients=args.recipients, ack_timeout=args.ack_timeout,
                       **copy.deepcopy(cfg))
    except gilmsg.Timeout as e:
        emit("gilmsg_publish", ok=False, error="Timeout: %s" % e, seconds=time.time() - start)
        # gilmsg bug #6: the non-daemon listener blocks in poll() forever; leave without it.
        os._exit(3)
    except Exception as e:
        emit("gilmsg_publish", ok=False, error="%s: %s" % (type(e).__name__, e),
             seconds=time.time() - start)
        os._exit(4)
    emit("gilmsg_publish", ok=True, seconds=time.time() - start, body=body)
    os._exit(0)  # the listener thread has returned; skip interpreter teardown of zmq contexts


def cmd_relay(args):
    """fedmsg-relay's data path without moksha: SUB bound on relay_inbound, PUB bound on the
    first relay_outbound address, frame 2 parsed and re-encoded with Python's default json.dumps
    (", " and ": " separators, ensure_ascii, keys in arrival order), as moksha does."""
    install_shims()
    import zmq

    cfg = fedmsg_config()
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.bind(cfg["relay_inbound"])
    pub = ctx.socket(zmq.PUB)
    pub.bind(cfg["endpoints"]["relay_outbound"][0])
    emit("ready")
    while True:
        topic, body = sub.recv_multipart()
        obj = json.loads(body.decode("utf-8"))
        pub.send_multipart([topic, json.dumps(obj).encode("utf-8")])


def cmd_dg_replay(args):
    """The real fedmsg-dg-replay (fedmsg.commands.replay), pointed at an archive's URL."""
    install_shims()
    from fedmsg.commands.replay import replay
    sys.argv = ["fedmsg-dg-replay", "--msg-id", args.msg_id, "--datagrepper-url", args.url]
    replay()
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp = p.add_subparsers(dest="mode", required=True)
    sp.add_parser("check")
    v = sp.add_parser("vectors")
    v.add_argument("file")
    v.add_argument("pki")
    s = sp.add_parser("pub")
    s.add_argument("--active", action="store_true", help="connect to relay_inbound")
    s.add_argument("--name", default="pyfedmsg.%s" % __import__("socket").gethostname().split(".")[0])
    s.add_argument("--cert-prefix", default="pyfedmsg")
    s.add_argument("--modname", default="pyfedmsg")
    s.add_argument("--topic", default="interop")
    s.add_argument("--linger", type=float, default=1.0)
    s = sp.add_parser("tail")
    s.add_argument("--topic", default="")
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--signer", default="")
    s.add_argument("--validate", action="store_true")
    s = sp.add_parser("gil-tail")
    s.add_argument("--topic", default="")
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--validate", action="store_true")
    s.add_argument("--linger", type=float, default=1.0)
    s = sp.add_parser("gil-pub")
    s.add_argument("--recipients", nargs="+", required=True)
    s.add_argument("--ack-timeout", type=float, default=5.0)
    s.add_argument("--modname", default="pygilmsg")
    s.add_argument("--topic", default="work")
    sp.add_parser("relay")
    s = sp.add_parser("replay-tail")
    s.add_argument("--topic", default="")
    s.add_argument("--stop-body", required=True)
    s = sp.add_parser("replay-pub")
    s.add_argument("--name", required=True)
    s.add_argument("--modname", default="pyapp")
    s = sp.add_parser("dg-replay")
    s.add_argument("--msg-id", required=True)
    s.add_argument("--url", required=True)
    args = p.parse_args()
    return {"check": cmd_check, "vectors": cmd_vectors, "pub": cmd_pub, "tail": cmd_tail,
            "gil-tail": cmd_gil_tail, "gil-pub": cmd_gil_pub, "relay": cmd_relay,
            "replay-tail": cmd_replay_tail, "replay-pub": cmd_replay_pub, "dg-replay": cmd_dg_replay}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
