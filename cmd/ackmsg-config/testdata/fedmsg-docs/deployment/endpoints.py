# doc/deployment.rst, "The basics": fedmsg.d/endpoints.py with the "fedora-infrastructure"
# section commented out, as the document tells a site deploying its own bus to do.
config = dict(
    # This is a dict of possible addresses from which fedmsg can send
    # messages.  fedmsg.init(...) requires that a 'name' argument be passed
    # to it which corresponds with one of the keys in this dict.
    endpoints={
        # These are here so your local box can listen to the upstream
        # infrastructure's bus.  Cool, right?  :)
        #"fedora-infrastructure": [
        #    "tcp://hub.fedoraproject.org:9940",
        #    #"tcp://stg.fedoraproject.org:9940",
        #],
    },
)
