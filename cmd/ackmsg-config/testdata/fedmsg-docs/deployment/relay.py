# doc/deployment.rst, "Branching out to two machines": /etc/fedmsg.d/relay.py on hostA.
config = dict(
    endpoints={
        "relay_outbound": [
            "tcp://hostA:4001",
        ],
    },
    relay_inbound = "tcp://hostA:2003",
)
