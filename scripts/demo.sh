#!/usr/bin/env bash
# make demo: a local bus with two acking consumers, on built-in defaults.
#
# Creates a throwaway CA and certificates in a temporary directory, starts a relay and two
# consumers (ackmsg-tail --ack as sub01 and sub02), publishes a message that both must ACK, then
# stops sub02 and shows the publish failing with exit status 3, naming it. Cleans up on exit.
set -euo pipefail

BIN=${BIN:-$(cd "$(dirname "$0")/.." && pwd)/bin}
work=$(mktemp -d -t ackmsg-demo.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -t 1 ]; then bold=$'\e[1m'; dim=$'\e[2m'; off=$'\e[0m'; else bold= dim= off=; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }
show() { sed "s/^/   /" "$@"; }
# wait_for FILE TEXT: poll a process's log until it says it is ready (10 s at most).
wait_for() {
	for _ in $(seq 200); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "demo: timed out waiting for '$2' in $1:" >&2
	cat "$1" >&2
	exit 1
}

step "1. A throwaway CA and certificates in $work/pki"
"$BIN/ackmsg-certs" init-ca --dir "$work/pki" --bits 2048 >/dev/null
for name in logger sub01 sub02; do "$BIN/ackmsg-certs" issue --dir "$work/pki" "$name" >/dev/null; done
"$BIN/ackmsg-certs" list --dir "$work/pki" | show

# Everything else is the built-in default: topic prefix org.fedoraproject, environment dev,
# relay_inbound tcp://127.0.0.1:2001, relay_outbound tcp://127.0.0.1:4001.
cat >"$work/ackmsg.toml" <<CONF
sign_messages = true
validate_signatures = true
ssldir = "$work/pki"
ca_cert_location = "$work/pki/ca.crt"
crl_location = "$work/pki/crl.pem"

[certnames]
"shell.$(hostname -s 2>/dev/null || hostname)" = "logger"
CONF
export ACKMSG_CONFIG="$work/ackmsg.toml"

step "2. A relay and two acking consumers (sub01, sub02)"
"$BIN/ackmsg-relay" 2>"$work/relay.log" &
pids+=($!)
wait_for "$work/relay.log" "relay ready"
for name in sub01 sub02; do
	"$BIN/ackmsg-tail" --ack --certname "$name" --topic org.fedoraproject.dev.demo \
		>"$work/$name.out" 2>"$work/$name.log" &
	pids+=($!)
	eval "pid_$name=$!"
done
for name in sub01 sub02; do
	wait_for "$work/$name.log" "endpoint connected"
	echo "   $name is listening and will ACK as $name"
done

step "3. Publish a message that sub01 and sub02 must both ACK"
echo "   \$ ackmsg-logger --recipients sub01,sub02 --ack-timeout 3 --modname demo --topic hello --message 'hello, reliably'"
set +e
"$BIN/ackmsg-logger" --log-level info --recipients sub01,sub02 --ack-timeout 3 \
	--modname demo --topic hello --message 'hello, reliably' 2>"$work/pub1.log"
status=$?
set -e
grep -o 'msg="all recipients ACKed".*' "$work/pub1.log" | show
echo "   exit status $status"
[ "$status" = 0 ] || { cat "$work/pub1.log" >&2; exit 1; }
for name in sub01 sub02; do
	wait_for "$work/$name.out" "hello, reliably"
	printf '   %s printed: %s%s%s\n' "$name" "$dim" "$(tail -n1 "$work/$name.out")" "$off"
done

step "4. Stop sub02 and publish again: the publish fails and names sub02"
kill "$pid_sub02"
wait "$pid_sub02" 2>/dev/null || true
echo "   \$ ackmsg-logger --recipients sub01,sub02 --ack-timeout 3 ... --message 'is anyone there?'"
set +e
"$BIN/ackmsg-logger" --recipients sub01,sub02 --ack-timeout 3 \
	--modname demo --topic hello --message 'is anyone there?' 2>"$work/pub2.log"
status=$?
set -e
show "$work/pub2.log"
echo "   exit status $status (3 = ACK timeout)"
[ "$status" = 3 ] || exit 1

step "Done: sub01 got both messages, the publisher knew sub02 missed the second"
