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

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/hub"
	"github.com/ackmsg/ackmsg/internal/cli"
	"github.com/ackmsg/ackmsg/message"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	c := cli.New("ackmsg-trigger",
		"run a command for each matching message on the bus",
		"[flags] --command 'CMD ARG...' | [flags] -- CMD ARG...", `
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
--count was not reached).`)
	c.Stdout, c.Stderr = stdout, stderr
	topic := c.Flags.String("topic", "", "subscribe to topics starting with this prefix (all by default)")
	include := c.Flags.String("include", "", "only messages whose topic matches this regexp")
	exclude := c.Flags.String("exclude", "_heartbeat", "not messages whose topic matches this regexp")
	command := c.Flags.String("command", "", "the command, split into words without a shell (or run by sh -c with --shell)")
	shell := c.Flags.Bool("shell", false, "run --command with sh -c")
	waitFor := c.Flags.String("wait-for", "0", "queue matches and run the commands this long after the last one: seconds or a duration")
	maxQueue := c.Flags.Int("max-queue-size", 0, "with --wait-for: run at once when this many are queued (0: no limit)")
	cmdTimeout := c.Flags.String("command-timeout", "60", "kill a command (and its process group) after this long")
	count := c.Flags.Int("count", 0, "exit 0 after this many commands ran (0: never)")
	timeoutText := c.Flags.String("timeout", "", "exit after this long: seconds (2.5) or a duration (1m)")

	return c.Run(args, func(ctx context.Context, cfg *config.Config) error {
		argv, err := commandLine(*command, *shell, c.Args())
		if err != nil {
			return cli.Usage("%v", err)
		}
		var inc, exc *regexp.Regexp
		if *include != "" {
			if inc, err = regexp.Compile(*include); err != nil {
				return cli.Usage("--include: %v", err)
			}
		}
		if *exclude != "" {
			if exc, err = regexp.Compile(*exclude); err != nil {
				return cli.Usage("--exclude: %v", err)
			}
		}
		wait, err := cli.ParseSeconds(*waitFor)
		if err != nil {
			return cli.Usage("--wait-for %v", err)
		}
		ctimeout, err := cli.ParseSeconds(*cmdTimeout)
		if err != nil || ctimeout <= 0 {
			return cli.Usage("--command-timeout %s: want a positive number of seconds or a duration", *cmdTimeout)
		}
		if *count < 0 || *maxQueue < 0 {
			return cli.Usage("--count and --max-queue-size want 0 or more")
		}
		var timeout time.Duration
		if *timeoutText != "" {
			if timeout, err = cli.ParseSeconds(*timeoutText); err != nil {
				return cli.Usage("--timeout %v", err)
			}
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		hc := config.DefaultHubConsumer("trigger", config.HubKindExec)
		hc.Command = argv
		ex, err := hub.NewExec(hc, c.Log())
		if err != nil {
			return cli.Usage("%v", err)
		}
		sub, err := config.NewSubscriber(cfg, *topic, consumer.WithLogger(c.Log()))
		if err != nil {
			return cli.Runtime(err)
		}
		defer sub.Close()

		ran := 0
		runOne := func(d consumer.Delivery) {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ctimeout)
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
		seen := map[string]bool{}
		var order []string
		type next struct {
			d   consumer.Delivery
			err error
		}
		msgs := make(chan next)
		readCtx, stopRead := context.WithCancel(ctx)
		defer stopRead()
		go func() {
			for {
				d, err := sub.Next(readCtx)
				select {
				case msgs <- next{d, err}:
				case <-readCtx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
		var timer <-chan time.Time
		for *count == 0 || ran < *count {
			select {
			case <-timer:
				timer = nil
				flush()
				continue
			case <-ctx.Done():
				// The reader gives up on ctx without handing over its error: SIGTERM, SIGINT or
				// --timeout end the loop here, or it would wait on msgs forever.
				flush()
				if errors.Is(ctx.Err(), context.DeadlineExceeded) && *count > 0 {
					return cli.Runtime(fmt.Errorf("ran %d of %d commands within %s", ran, *count, timeout))
				}
				return nil
			case n := <-msgs:
				if n.err != nil {
					flush()
					if errors.Is(n.err, context.DeadlineExceeded) && *count > 0 {
						return cli.Runtime(fmt.Errorf("ran %d of %d commands within %s", ran, *count, timeout))
					}
					if ctx.Err() != nil {
						return nil
					}
					return cli.Runtime(n.err)
				}
				d := n.d
				if (inc != nil && !inc.MatchString(d.Topic)) || (exc != nil && exc.MatchString(d.Topic)) || isAck(d) {
					continue
				}
				if d.Message.Has(message.FieldGilmsgVersion) {
					id := d.Message.MsgID()
					if seen[id] {
						continue // a retransmission
					}
					seen[id] = true
					order = append(order, id)
					if len(order) > cfg.DedupeWindow {
						delete(seen, order[0])
						order = order[1:]
					}
				}
				if wait == 0 {
					runOne(d)
					continue
				}
				queue = append(queue, d)
				if *maxQueue > 0 && len(queue) >= *maxQueue {
					timer = nil
					flush()
					continue
				}
				timer = time.After(wait) // restarted by each match, as fedmsg-trigger's timer
			}
		}
		return nil
	})
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
