#!/usr/bin/env bash
# What `make test` needs on a fresh Debian or Ubuntu machine, installed with apt-get when missing.
# `make deps` (run by `make test` and `make bench`) and .ci/run both call this one list, so a user's
# `make test` runs every suite CI runs instead of skipping the ones whose server is not installed.
# With --build, only what compiling the commands needs (libzmq): `make build` and `make demo`.
# With --dry-run, print what would be installed and install nothing.
# DEPS_ROOT prefixes the absolute paths looked at (a test runs the script against an empty root).
set -euo pipefail
build=false dry=false
for a in "$@"; do
	case $a in
	--build) build=true ;;
	--dry-run) dry=true ;;
	*) echo "deps: unknown argument $a (use --build, --dry-run)" >&2; exit 2 ;;
	esac
done
root=${DEPS_ROOT:-}

need=()
# pebbe/zmq4 is cgo over libzmq, found with pkg-config.
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists libzmq 2>/dev/null || need+=(libzmq3-dev)
if $build; then
	if [ ${#need[@]} -eq 0 ]; then
		echo "deps: libzmq $(pkg-config --modversion libzmq) found"
		exit 0
	fi
else
	# certs cross-checks against OpenSSL (and the bridge's TLS test names the broker's CRL file with it);
	# the README test runs the tour as a user would, curl included.
	command -v openssl >/dev/null 2>&1 || need+=(openssl)
	command -v curl >/dev/null 2>&1 || need+=(curl)
	# The PostgreSQL stores' tests start a throwaway server (internal/pgtest); Debian keeps initdb off
	# PATH, in /usr/lib/postgresql/<version>/bin.
	compgen -G "$root/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 || need+=(postgresql)
	# The bridge's tests and the bench's RabbitMQ rows start a throwaway node (internal/rmqtest) from
	# the Debian package; it is not on PATH (/usr/sbin or /usr/lib/rabbitmq).
	[ -x "$root/usr/sbin/rabbitmq-server" ] || command -v rabbitmq-server >/dev/null 2>&1 || need+=(rabbitmq-server)
	# The multi-host tests (integration/netlab_test.go) build network namespaces with iproute2's ip,
	# which minimal images (Debian's container image) leave out.
	command -v ip >/dev/null 2>&1 || need+=(iproute2)
	# ackmsg-config import evaluates fedmsg.d/*.py files with the system python3 (tests included).
	command -v python3 >/dev/null 2>&1 || need+=(python3)
	# The archive's web view is tested in a real browser (archive/web TestBrowser): Debian's
	# headless chromium, driven by chromedp.
	command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi

if [ ${#need[@]} -eq 0 ]; then
	echo "deps: libzmq $(pkg-config --modversion libzmq), PostgreSQL, RabbitMQ, python3, openssl, curl, iproute2, chromium found"
	exit 0
fi
if $dry; then
	echo "deps: would install ${need[*]}"
	exit 0
fi
echo "deps: installing ${need[*]} with apt-get"
if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: no apt-get on this machine: install ${need[*]} yourself" >&2
	exit 1
fi
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${need[@]}"
echo "deps: installed ${need[*]}"
