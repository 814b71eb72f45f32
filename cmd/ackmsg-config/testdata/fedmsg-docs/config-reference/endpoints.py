# fedmsg/config.py docstring (doc/configuration.rst), "endpoints": four WSGI processes of bodhi
# on app01. The doctest prompts (>>> and ...) are removed.
config = dict(
    endpoints={
        "bodhi.app01":  [
              "tcp://app01.phx2.fedoraproject.org:3000",
              "tcp://app01.phx2.fedoraproject.org:3001",
              "tcp://app01.phx2.fedoraproject.org:3002",
              "tcp://app01.phx2.fedoraproject.org:3003",
        ],
    },
)
