# fedmsg/config.py docstring (doc/configuration.rst), "STOMP Configuration": zmq_enabled off,
# TLS to the brokers instead of fedmsg signatures.
config = dict(
    zmq_enabled=False,
    validate_signatures=False,
    stomp_uri='broker01.example.com:61612,broker02.example.com:61612',
    stomp_user='username',
    stomp_pass='password',
    stomp_ssl_crt='/path/to/an/optional.crt',
    stomp_ssl_key='/path/to/an/optional.key',
    stomp_queue='/queue/fedmsg',
)
