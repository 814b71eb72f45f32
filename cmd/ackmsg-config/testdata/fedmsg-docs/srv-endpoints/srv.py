# fedmsg/config.py docstring (doc/configuration.rst), "srv_endpoints", exactly as written: the
# domain name is not quoted, so Python raises a NameError on line 4.
config = dict(
    srv_endpoints=[foo.example.com]
)
