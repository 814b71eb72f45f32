# fedmsg/config.py docstring (doc/configuration.rst), "certnames" and "routing_policy", put in
# one config dict, with routing_nitpicky (documented there too).
config = dict(
    certnames={
        "bodhi.app01": "bodhi-app01.stg.phx2.fedoraproject.org",
        # ... other certname mappings may follow here.
    },
    routing_policy={
        "org.fedoraproject.prod.bodhi.buildroot_override.untag": [
            "bodhi-app01.phx2.fedoraproject.org",
            "bodhi-app02.phx2.fedoraproject.org",
            "bodhi-app03.phx2.fedoraproject.org",
            "bodhi-app04.phx2.fedoraproject.org",
        ],
    },
    routing_nitpicky=True,
)
