// Package config holds every ackmsg setting with its default, and loads them from TOML files, the
// environment and command-line flags.
//
// It is the top of the library: it maps a loaded configuration onto the components' own
// configurations and builds them with the collaborators the configuration names, so that
// commands have one path from files to running parts: [NewPublisher] and [NewBuilder] (the
// signing certificate when sign_messages is set, the history persistent_store names, opened
// within the caller's context), [NewSubscriber], [Tail] and [NewHub] (a verifier of the CA and
// CRL when validate_signatures is set), [NewAckPublisher], [NewAckSubscriber], [AckTail] and
// [NewAckHub], [NewOutbox]; the mappings alone are [Config.PublisherConfig],
// [Config.SubscriberConfig], [Config.HubEngineConfig], [Config.AckConfig],
// [Config.AckSubscriberConfig], [Config.OutboxWriterConfig], [OutboxConfig.DelivererConfig] and
// [HubConsumer.ConsumerConfig]. [Config.Signer], [Config.Verifier] and [Config.AckVerifier] load
// the trust material. No component imports this package; a Go program may build them without
// any fedmsg configuration. Importing it registers the builders of publisher.Default and
// ack.Default (the files and $ACKMSG_CONFIG).
//
// # Keys and format
//
// Files are TOML and use fedmsg's key names (topic_prefix, environment, name, endpoints,
// sign_messages, ssldir, certnames, routing_policy, high_water_mark, zmq_linger, ...), so a fedmsg
// configuration translates key by key. [Config] lists every key; each field comment gives its
// default. [DefaultConfig] returns those defaults and [Config.Validate] checks a configuration.
//
// Tables whose keys contain dots (endpoints, certnames, routing_policy, recipients) may be written
// with quoted keys ("bodhi.app01" = ...) or with TOML dotted keys (bodhi.app01 = ...): both mean
// the key "bodhi.app01". An endpoints entry, like in fedmsg, is a string or a list of strings.
//
// # Precedence
//
// Later layers override earlier ones:
//
//  1. [DefaultConfig].
//  2. Every *.toml file in /etc/ackmsg.d, sorted by name.
//  3. Every *.toml file in ./ackmsg.d (relative to the working directory), sorted by name.
//  4. Instead of 2 and 3: the --config flag (also spelled --config-filename, fedmsg's name), or else
//     the ACKMSG_CONFIG environment variable. Either names a file, or a directory whose *.toml files
//     are read sorted by name. The default search is then skipped entirely, as fedmsg's
//     --config-filename does.
//  5. The environment: ACKMSG_NAME sets name, ACKMSG_CERTNAME sets certname, ACKMSG_LOG_LEVEL sets log_level.
//  6. Command-line flags registered by [RegisterFlags], but only those given on the command line.
//
// Files merge like fedmsg's: tables merge key by key (a later file can add one endpoint or one
// certname), while scalars and arrays replace. Missing default directories are skipped; file
// names starting with "." are skipped (editor droppings). The endpoints default applies only when
// no layer sets endpoints at all: the first layer that does replaces it rather than merging into it.
// The [hub] table merges key by key too, and its [[hub.consumers]] merge by name: a consumer
// table replaces the earlier one of the same name as a whole, and new names are appended, so each
// consumer can live in its own drop-in file. Keys a consumer table omits take their defaults
// (see [HubConsumer]), filled in as the file is read, so --print-config shows them.
//
// # What fails, and how it reads
//
// Loading fails, naming the file, when a file cannot be read, is not valid TOML (with the line:
// "config: /etc/ackmsg.d/10-bus.toml:4: ..."), holds a value of the wrong type (with the line and
// key), or holds a key ackmsg does not know. Unknown keys are errors, with a suggestion when the
// key looks like a typo of a known one. Keys that fedmsg defines but that ackmsg has no use for
// (post_init_sleep, timeout, zmq_enabled, ca_cert_cache_expiry, moksha.*, ...) are accepted and listed in
// [Config.Ignored] for the caller to log; keys for fedmsg features ackmsg does not implement
// (srv_endpoints, gpg_*) are errors that say so; [ClassifyKey] tells which
// is which, with the reason. An explicit --config or ACKMSG_CONFIG that does not exist, or a
// directory without *.toml files, is an error. When it names a fedmsg configuration instead (a
// fedmsg.d directory of *.py files, or a .py file) the error is [ErrFedmsgConfig] and gives the
// ackmsg-config import command that converts it to TOML.
//
// [Config.Validate] reports every problem at once, each naming the key and, when known, the file
// or flag that set it. It checks that endpoints are tcp://host:port or ipc://path (and not
// tcp://*:port, which subscribers cannot connect to), that name is a key of endpoints for a
// passive publisher, that sizes and intervals are in range, that the CA and CRL locations are
// files (ackmsg never fetches them over the network), and that recipients patterns are well
// formed. Validate does not touch the file system: [Config.SigningFiles] and [Config.TrustFiles]
// resolve the certificate, key, CA and CRL paths and check that they can be read, naming the file
// and the key it came from.
//
// Errors from files are *[FileError], errors from Validate are *[KeyError]; several at once come
// wrapped in a *multierror.Error (github.com/hashicorp/go-multierror).
//
// # Development mode and the log sink
//
// mode = "development" is for a laptop without the recipients an application's acked messages
// name: an acked publish is sent, logged at WARN level with mode=development and the recipients
// it did not wait for, and succeeds without ACKs. It is never the default, a publisher built in
// this mode warns at startup, and it is refused with environment "prod". sink = "log" opens no
// socket at all: every message a publisher would send is written to its logger instead, at WARN
// (topic, msg_id, body), for tests of an application that publishes. A publisher given no logger
// logs to slog.Default(). See packages ack and publisher.
//
// # Differences from fedmsg, on purpose
//
//   - high_water_mark means what libzmq says (0 = unlimited), and the default is a bounded 10000;
//     fedmsg's 0 silently left libzmq's 1000.
//   - The TCP keepalive and reconnect options have defaults that always apply; fedmsg applied them
//     only when present.
//   - ca_cert_location and crl_location may be local files or http(s) URLs, as in fedmsg. A URL is
//     downloaded, verified (the CRL must be signed by the CA and current), cached in
//     ca_cert_cache / crl_cache (default: ackmsg's cache directory) and, for the CRL, fetched
//     again every crl_cache_expiry seconds (3600) or at its nextUpdate; fedmsg documented these
//     keys but never used them, and fetched only on a failed validation. When no current CRL can
//     be had, validation fails (fail closed). An empty ca_cert_location means <ssldir>/ca.crt;
//     an empty crl_location means no CRL check (fedmsg fetched Fedora's CRL over https when the
//     key was absent).
//   - A certnames entry that is missing is an error naming the index, at the time the signing
//     files are resolved, not a KeyError at the first publish.
//   - name is never guessed from the program name.
package config
