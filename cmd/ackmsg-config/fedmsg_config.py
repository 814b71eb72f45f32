# Evaluates fedmsg configuration files the way fedmsg/config.py does (load_config and
# _process_config_file), without fedmsg: every path given on the command line is a .py file or a
# fedmsg.d directory, whose *.py files are taken in sorted order (fedmsg's _gather_configs_in);
# each file is compiled and exec'd in a fresh namespace, and its "config" dict is merged into the
# result with fedmsg's _recursive_update (dicts merge key by key, at every depth; anything else
# is replaced).
#
# ackmsg-config runs this with "python3 -c" and reads one JSON document on stdout:
#   {"files": [...], "config": {...}, "origins": {key: [file, ...]},
#    "entry_origins": {key: {entry: file}}}
# or, when a file fails, {"error": {"file": ..., "line": N, "message": ...}}.
# Values JSON cannot hold exactly (functions, objects, sets, bytes, NaN, huge integers, dicts
# with non-string keys) become {"__ackmsg_unrepresentable__": "<what it is>"}.
#
# Unlike fedmsg, an OSError raised by a file is an error here, not a warning that skips the file.
import json
import os
import sys
import traceback

MARK = "__ackmsg_unrepresentable__"

try:
    text_type = unicode  # noqa: F821 (Python 2)
    str_types = (str, unicode)  # noqa: F821
except NameError:
    text_type = str
    str_types = (str,)


def gather(path):
    if os.path.isdir(path):
        return sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith('.py'))
    return [path]


def recursive_update(d1, d2):
    for k in set(d1).intersection(d2):
        if isinstance(d1[k], dict) and isinstance(d2[k], dict):
            d1[k] = recursive_update(d1[k], d2[k])
        else:
            d1[k] = d2[k]
    for k in set(d2).difference(d1):
        d1[k] = d2[k]
    return d1


def describe(v):
    t = type(v)
    name = getattr(v, '__name__', None)
    if callable(v) and name:
        return "a Python %s %s" % (t.__name__, name)
    return "a Python %s" % t.__name__


def conv(v, depth=0):
    if depth > 100:
        return {MARK: "a structure nested too deeply"}
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, str_types):
        if not isinstance(v, text_type):
            try:
                v = v.decode('utf-8')
            except UnicodeDecodeError:
                return {MARK: "a byte string that is not UTF-8"}
        try:
            v.encode('utf-8')
        except UnicodeEncodeError:
            return {MARK: "a string with a lone surrogate"}
        return v
    if isinstance(v, int) or type(v).__name__ == 'long':
        if -2**63 <= v < 2**63:
            return int(v)
        return {MARK: "the integer %d, beyond 64 bits" % v}
    if isinstance(v, float):
        if v != v or v in (float('inf'), float('-inf')):
            return {MARK: "the float %r" % v}
        return v
    if isinstance(v, (list, tuple)):
        return [conv(x, depth + 1) for x in v]
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if not isinstance(k, str_types):
                return {MARK: "a dict with the key %r, which is not a string" % (k,)}
            out[k] = conv(x, depth + 1)
        return out
    return {MARK: describe(v)}


def fail(fname, line, message):
    return {"error": {"file": fname, "line": line or 0, "message": message}}


def line_in(fname, tb):
    line = 0
    for frame in traceback.extract_tb(tb):
        if frame[0] == fname:
            line = frame[1]
    return line


def run(paths):
    files = []
    for p in paths:
        files.extend(f for f in gather(p) if os.path.isfile(f))
    config, origins, entry_origins = {}, {}, {}
    for fname in files:
        variables = {}
        try:
            with open(fname) as f:
                code = compile(f.read(), fname, 'exec')
            exec(code, variables)
        except SyntaxError as e:
            msg = "%s: %s" % (type(e).__name__, e.msg)
            if e.text and e.text.strip():
                msg += ": " + e.text.strip()
            return fail(fname, e.lineno, msg)
        except BaseException as e:
            return fail(fname, line_in(fname, sys.exc_info()[2]),
                        "%s: %s" % (type(e).__name__, e))
        if 'config' not in variables:
            return fail(fname, 0, "defines no variable named config (fedmsg reads the dict named config)")
        c = variables['config']
        if not isinstance(c, dict):
            return fail(fname, 0, "config is %s, not a dict" % describe(c))
        for k, v in c.items():
            if not isinstance(k, str_types):
                return fail(fname, 0, "config has the key %r, which is not a string" % (k,))
            origins.setdefault(k, []).append(fname)
            if isinstance(v, dict):
                for e in v:
                    if isinstance(e, str_types):
                        entry_origins.setdefault(k, {})[e] = fname
        config = recursive_update(config, c)
    return {"files": files, "config": conv(config), "origins": origins,
            "entry_origins": entry_origins}


def main():
    out = sys.stdout
    # A file that prints must not corrupt the JSON: its output goes to stderr.
    sys.stdout = sys.stderr
    result = run(sys.argv[1:])
    out.write(json.dumps(result))
    out.write("\n")
    out.flush()


main()
