package publisher

import (
	"errors"
	"fmt"

	"github.com/ackmsg/ackmsg/replay"
	"github.com/ackmsg/ackmsg/transport"
)

// Config is what a Publisher is: where it sends, how it names its messages, and its sockets.
// Start from DefaultConfig; package config maps a fedmsg configuration onto it
// (config.Config.PublisherConfig).
type Config struct {
	// Name is the publisher's name: the endpoints key it binds from, the name its history
	// numbers (see WithHistory) and, up to its first dot, the default modname. Default "".
	Name string
	// TopicPrefix and Environment start every full topic,
	// <topic_prefix>.<environment>.<modname>.<topic>. Defaults "org.fedoraproject" and "dev", as
	// in fedmsg.
	TopicPrefix, Environment string
	// Modname is the default modname of the messages (Modname and WithModname override it).
	// Default "": Name up to its first dot, else the program's name.
	Modname string
	// Bind lists the addresses a passive publisher may bind, as subscribers reach them
	// (tcp://host:port or ipc://path, see transport.BindAddress); it binds the first one whose
	// port is free. Default none.
	Bind []string
	// Connect, when set, makes the publisher active: it connects to this address (a relay's
	// inbound socket) instead of binding, and each Publish first proves the relay subscribed.
	// Default "" (passive).
	Connect string
	// LogSink opens no socket: each message is built, signed and written to the logger instead
	// of being sent (sink = "log"). Default false.
	LogSink bool
	// Transport are the socket options. Default: the zero value (see transport.Options).
	Transport transport.Options
	// ReplayBind, with a history (WithHistory), is the address the history is served at with
	// fedmsg's replay protocol (replay_endpoints[name]). Default "": not served.
	ReplayBind string
	// ReplayLimits bound each replay reply (replay_max_messages, replay_max_bytes). Default:
	// 1000 messages, 16 MiB.
	ReplayLimits replay.Limits
}

// Defaults of Config.
const (
	DefaultTopicPrefix       = "org.fedoraproject"
	DefaultEnvironment       = "dev"
	DefaultReplayMaxMessages = 1000
	DefaultReplayMaxBytes    = 16 << 20
)

// DefaultConfig returns a Config with every default set: a passive publisher still needs Bind
// (or Connect, or LogSink).
func DefaultConfig() Config {
	return Config{
		TopicPrefix:  DefaultTopicPrefix,
		Environment:  DefaultEnvironment,
		ReplayLimits: replay.Limits{MaxMessages: DefaultReplayMaxMessages, MaxBytes: DefaultReplayMaxBytes},
	}
}

// Validate reports a Config no Publisher can be built from.
func (c Config) Validate() error {
	switch {
	case c.TopicPrefix == "" || c.Environment == "":
		return errors.New("publisher: TopicPrefix and Environment must be set: every full topic starts with them")
	case c.LogSink && (c.Connect != "" || len(c.Bind) > 0):
		return errors.New("publisher: LogSink opens no socket: leave Bind and Connect empty")
	case !c.LogSink && c.Connect == "" && len(c.Bind) == 0:
		return errors.New("publisher: nowhere to send: set Bind (passive), Connect (active) or LogSink")
	case c.Connect != "" && len(c.Bind) > 0:
		return errors.New("publisher: set Bind (passive) or Connect (active), not both")
	case c.ReplayLimits.MaxMessages < 0 || c.ReplayLimits.MaxBytes < 0:
		return errors.New("publisher: ReplayLimits must not be negative")
	}
	if err := c.Transport.Validate(); err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	return nil
}
