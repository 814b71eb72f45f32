# doc/deployment.rst, "Setting up datanommer": /etc/fedmsg.d/datanommer.py.
config = {
    'datanommer.enabled': True,
    'datanommer.sqlalchemy.url': 'postgresql://datanommer:password@localhost/datanommer',
}
