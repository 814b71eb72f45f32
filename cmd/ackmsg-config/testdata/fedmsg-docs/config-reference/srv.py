# fedmsg/config.py docstring (doc/configuration.rst), "srv_endpoints", with the domain name
# quoted (the document's "srv_endpoints=[foo.example.com]" is not valid Python; see
# ../srv-endpoints/srv.py for it as written).
config = dict(
    srv_endpoints=["foo.example.com"],
)
