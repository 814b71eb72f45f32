# fedmsg/config.py docstring (doc/configuration.rst), "irc" and "irc_color_lookup". The document
# says make_short may be a callable instead of True; this file uses its example function (which
# would need requests when called; it is not called while the configuration loads).


def make_short(url):
    service_url = ('http://api.bitly.com/v3/shorten?login=YOURLOGIN&'
                   'apiKey=YOURAPIKEY&longUrl={url}&format=txt')
    return requests.get(service_url.format(url=url)).text.strip()


irc_color_lookup = {
    "fas": "light blue",
    "bodhi": "green",
    "git": "red",
    "tagger": "brown",
    "wiki": "purple",
    "logger": "orange",
    "pkgdb": "teal",
    "buildsys": "yellow",
    "planet": "light green",
}

config = dict(
    irc=[
        dict(
            network='irc.freenode.net',
            port=6667,
            nickname='fedmsg-dev',
            channel='fedora-fedmsg',
            timeout=120,

            make_pretty=True,
            make_terse=True,
            make_short=make_short,

            filters=dict(
                topic=['koji'],
                body=['ralph'],
            ),
        ),
    ],
    irc_color_lookup=irc_color_lookup,
    irc_method='notice',
)
