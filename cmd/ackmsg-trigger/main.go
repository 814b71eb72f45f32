// Command ackmsg-trigger runs a command for the messages on the bus, as fedmsg-trigger does, but
// without a shell unless asked: the envelope goes to the command's standard input.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/ackmsg/ackmsg/cli"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/hub"
	"github.com/ackmsg/ackmsg/message"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// help is ackmsg-trigger's --help text after the flags.
const help = `
Subscribes like ackmsg-tail (--topic prefix, --include/--exclude regexps on the topic) and runs
the command once per matching message, with the envelope as one line of canonical JSON on its
standard input and ACKMSG_TOPIC, ACKMSG_MSG_ID and ACKMSG_SIGNER in its environment. The command
is an argv list: give it after -- (ackmsg-trigger -- ./notify.sh --urgent), or as --command, whose
text is split into words like a shell would split it (quotes and backslashes; no variables, no
globbing, no pipes) and never run by a shell. --shell runs --command with sh -c instead, for
pipes and redirections; the message is still only on standard input, never in the command line
(fedmsg-trigger pastes it into a bash command, which anything in a message can break out of).

fedmsg-trigger's batching: with --wait-for S, matching messages are queued and the commands run
S seconds after the last match (a new match restarts the wait), or at once when the queue holds
--max-queue-size messages. A command that fails (non-zero exit, or killed after
--command-timeout) is logged with the end of its stderr; the trigger goes on. ACKs
(*.gilmsg.ack) and retransmissions of a message already seen are not triggered on.

For scripts: --count N exits 0 after N commands ran, --timeout D exits after D (status 1 if
--count was not reached).`

// flags are ackmsg-trigger's own flags.
type flags struct {
	topic, include, exclude, command, waitFor, cmdTimeout, timeoutText *string
	shell                                                              *bool
	maxQueue, count                                                    *int
}

// trigger is what the flags ask for, checked.
type trigger struct {
	argv            []string
	inc, exc        *regexp.Regexp
	wait, ctimeout  time.Duration
	timeout         time.Duration // 0: none
	count, maxQueue int
	dedupe          int // dedupe_window
}

func run(args []string, stdout, stderr io.Writer) int {
	c := cli.New("ackmsg-trigger",
		"run a command for each matching message on the bus",
		"[flags] --command 'CMD ARG...' | [flags] -- CMD ARG...", help)
	c.Stdout, c.Stderr = stdout, stderr
	var f flags
	f.topic = c.Flags.String("topic", "", "subscribe to topics starting with this prefix (all by default)")
	f.include = c.Flags.String("include", "", "only messages whose topic matches this regexp")
	f.exclude = c.Flags.String("exclude", "_heartbeat", "not messages whose topic matches this regexp")
	f.command = c.Flags.String("command", "", "the command, split into words without a shell (or run by sh -c with --shell)")
	f.shell = c.Flags.Bool("shell", false, "run --command with sh -c")
	f.waitFor = c.Flags.String("wait-for", "0", "queue matches and run the commands this long after the last one: seconds or a duration")
	f.maxQueue = c.Flags.Int("max-queue-size", 0, "with --wait-for: run at once when this many are queued (0: no limit)")
	f.cmdTimeout = c.Flags.String("command-timeout", "60", "kill a command (and its process group) after this long")
	f.count = c.Flags.Int("count", 0, "exit 0 after this many commands ran (0: never)")
	f.timeoutText = c.Flags.String("timeout", "", "exit after this long: seconds (2.5) or a duration (1m)")

	return c.Run(args, func(ctx context.Context, cfg *config.Config) error {
		t, err := f.check(c.Args())
		if err != nil {
			return err
		}
		t.dedupe = cfg.DedupeWindow
		if t.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, t.timeout)
			defer cancel()
		}
		hc := config.DefaultHubConsumer("trigger", config.HubKindExec)
		hc.Command = t.argv
		ex, err := hub.NewExec(hc, c.Log())
		if err != nil {
			return cli.Usage("%v", err)
		}
		sub, err := config.NewSubscriber(cfg, *f.topic, consumer.WithLogger(c.Log()))
		if err != nil {
			return cli.Runtime(err)
		}
		defer sub.Close()
		return t.loop(ctx, c, sub, ex)
	})
}

// check parses the flags (and the command after --) into a trigger.
func (f *flags) check(args []string) (*trigger, error) {
	argv, err := commandLine(*f.command, *f.shell, args)
	if err != nil {
		return nil, cli.Usage("%v", err)
	}
	t := &trigger{argv: argv, count: *f.count, maxQueue: *f.maxQueue}
	if *f.include != "" {
		if t.inc, err = regexp.Compile(*f.include); err != nil {
			return nil, cli.Usage("--include: %v", err)
		}
	}
	if *f.exclude != "" {
		if t.exc, err = regexp.Compile(*f.exclude); err != nil {
			return nil, cli.Usage("--exclude: %v", err)
		}
	}
	if t.wait, err = cli.ParseSeconds(*f.waitFor); err != nil {
		return nil, cli.Usage("--wait-for %v", err)
	}
	t.ctimeout, err = cli.ParseSeconds(*f.cmdTimeout)
	if err != nil || t.ctimeout <= 0 {
		return nil, cli.Usage("--command-timeout %s: want a positive number of seconds or a duration", *f.cmdTimeout)
	}
	if t.count < 0 || t.maxQueue < 0 {
		return nil, cli.Usage("--count and --max-queue-size want 0 or more")
	}
	if *f.timeoutText != "" {
		if t.timeout, err = cli.ParseSeconds(*f.timeoutText); err != nil {
			return nil, cli.Usage("--timeout %v", err)
		}
	}
	return t, nil
}

// next is what the reader hands the loop: a delivery, or the error that ended reading.
type next struct {
	d   consumer.Delivery
	err error
}

// read hands the subscriber's deliveries to the loop until ctx ends or reading fails.
func read(ctx context.Context, sub *consumer.Subscriber, msgs chan<- next) {
	for {
		d, err := sub.Next(ctx)
		select {
		case msgs <- next{d, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// loop runs the command for the matching messages until --count commands ran, ctx ends or
// reading fails.
func (t *trigger) loop(ctx context.Context, c *cli.Command, sub *consumer.Subscriber, ex *hub.Exec) error {
	ran := 0
	runOne := func(d consumer.Delivery) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.ctimeout)
		defer cancel()
		if err := ex.Consume(cctx, d.Message); err != nil {
			c.Log().Warn("command failed", "msg_id", d.Message.MsgID(), "topic", d.Topic, "error", err)
		} else {
			c.Log().Info("command ran", "msg_id", d.Message.MsgID(), "topic", d.Topic)
		}
		ran++
	}
	var queue []consumer.Delivery
	flush := func() {
		for _, d := range queue {
			runOne(d)
		}
		queue = queue[:0]
	}
	seen := newSeen(t.dedupe)
	msgs := make(chan next)
	readCtx, stopRead := context.WithCancel(ctx)
	defer stopRead()
	go read(readCtx, sub, msgs)
	var timer <-chan time.Time
	for t.count == 0 || ran < t.count {
		select {
		case <-timer:
			timer = nil
			flush()
			continue
		case <-ctx.Done():
			// The reader gives up on ctx without handing over its error: SIGTERM, SIGINT or
			// --timeout end the loop here, or it would wait on msgs forever.
			flush()
			return t.short(ctx.Err(), ran)
		case n := <-msgs:
			if n.err != nil {
				flush()
				if err := t.short(n.err, ran); err != nil || ctx.Err() != nil {
					return err
				}
				return cli.Runtime(n.err)
			}
			d := n.d
			if !t.matches(d) || !seen.first(d) {
				continue
			}
			if t.wait == 0 {
				runOne(d)
				continue
			}
			queue = append(queue, d)
			if t.maxQueue > 0 && len(queue) >= t.maxQueue {
				timer = nil
				flush()
				continue
			}
			timer = time.After(t.wait) // restarted by each match, as fedmsg-trigger's timer
		}
	}
	return nil
}

// short is the error when --timeout ended the run (err is DeadlineExceeded) before --count
// commands ran; nil otherwise.
func (t *trigger) short(err error, ran int) error {
	if errors.Is(err, context.DeadlineExceeded) && t.count > 0 {
		return cli.Runtime(fmt.Errorf("ran %d of %d commands within %s", ran, t.count, t.timeout))
	}
	return nil
}

// matches reports whether d passes --include and --exclude and is not an ACK.
func (t *trigger) matches(d consumer.Delivery) bool {
	return !((t.inc != nil && !t.inc.MatchString(d.Topic)) || (t.exc != nil && t.exc.MatchString(d.Topic)) || isAck(d))
}

// seen is the window of acked messages' msg_ids already triggered on (dedupe_window of them).
type seen struct {
	ids   map[string]bool
	order []string
	max   int
}

func newSeen(max int) *seen { return &seen{ids: map[string]bool{}, max: max} }

// first reports false for a retransmission of an acked message already seen.
func (s *seen) first(d consumer.Delivery) bool {
	if !d.Message.Has(message.FieldGilmsgVersion) {
		return true
	}
	id := d.Message.MsgID()
	if s.ids[id] {
		return false // a retransmission
	}
	s.ids[id] = true
	s.order = append(s.order, id)
	if len(s.order) > s.max {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
	return true
}

func isAck(d consumer.Delivery) bool {
	if !strings.HasSuffix(d.Topic, ".gilmsg.ack") {
		return false
	}
	body, _ := d.Message.Body().(map[string]any)
	_, ok := body["ack_msg_id"]
	return ok
}

// commandLine is the argv to run: after --, or --command split into words, or sh -c.
func commandLine(command string, shell bool, args []string) ([]string, error) {
	switch {
	case command != "" && len(args) > 0:
		return nil, errors.New("give the command with --command or after --, not both")
	case command == "" && len(args) == 0:
		return nil, errors.New("no command: give --command 'CMD ARG' or -- CMD ARG")
	case shell && command == "":
		return nil, errors.New("--shell needs --command")
	case shell:
		return []string{"sh", "-c", command}, nil
	case len(args) > 0:
		return args, nil
	}
	return splitWords(command)
}

// splitWords splits s as a POSIX shell splits words: blanks separate, single quotes keep
// everything, double quotes keep all but \" and \\, a backslash escapes the next character.
// Nothing is expanded.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("--command %q: ends with a backslash", s)
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("--command %q: unterminated single quote", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("--command %q: unterminated double quote", s)
			}
			inWord = true
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("--command %q: no words", s)
	}
	return words, nil
}
