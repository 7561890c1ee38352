#!/usr/bin/env bash
# Runs bench/smtp_bench against Mantissa and, as the baseline in the same
# run, Postfix on another loopback port delivering to a Maildir. Postfix is
# installed with apt-get when missing (Debian package, "No configuration":
# the system instance is not set up or started) and configured in a
# temporary directory: its own main.cf, master.cf, queue and Maildir. It is
# stopped and the directory removed on exit. Without Postfix (not root, no
# package), only Mantissa is measured and a message says why.
#
#   bench/smtp_vs_postfix.sh [path/to/smtp_bench] [smtp_bench args...]
# default: build/bench/smtp_bench (scripts/build release --target smtp_bench)
set -euo pipefail
cd "$(dirname "$0")/.."

bench=${1:-build/bench/smtp_bench}
shift || true
args=("$@")
[ -x "$bench" ] || { echo "smtp_vs_postfix: $bench not built (scripts/build release --target smtp_bench)" >&2; exit 2; }

skip() {
  echo "smtp_vs_postfix: Postfix baseline skipped: $*" >&2
  exec "$bench" "${args[@]}"
}

if ! command -v postfix >/dev/null 2>&1 && [ ! -x /usr/sbin/postfix ]; then
  if [ "$(id -u)" -ne 0 ]; then
    skip "Postfix is not installed and this is not root"
  fi
  echo "smtp_vs_postfix: installing postfix with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  if ! { apt-get install -y -qq --no-install-recommends postfix >/dev/null 2>&1 \
         || { apt-get update -qq >/dev/null 2>&1 \
              && apt-get install -y -qq --no-install-recommends postfix >/dev/null 2>&1; }; }; then
    skip "apt-get could not install postfix"
  fi
fi
[ "$(id -u)" -eq 0 ] || skip "Postfix needs root to start its master process"
PF=/usr/sbin/postfix

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mantissa-postfix-XXXXXX")
chmod 755 "$tmp"
cfg=$tmp/etc
cleanup() {
  "$PF" -c "$cfg" stop >/dev/null 2>&1 || true
  # The master may take a moment to go.
  for _ in $(seq 1 50); do
    [ -f "$tmp/queue/pid/master.pid" ] || break
    pid=$(tr -dc 0-9 <"$tmp/queue/pid/master.pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$cfg" "$tmp/queue" "$tmp/data" "$tmp/mail/alice"
chown postfix:postfix "$tmp/data" "$tmp/mail" "$tmp/mail/alice"
uid=$(id -u postfix)
gid=$(id -g postfix)

cat >"$cfg/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $tmp/queue
data_directory = $tmp/data
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.localhost
mydomain = localhost
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = example.com
virtual_mailbox_base = $tmp/mail
virtual_mailbox_maps = static:alice/
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
virtual_destination_concurrency_limit = 20
maillog_file = $tmp/maillog
maillog_file_prefixes = $tmp
smtpd_banner = \$myhostname ESMTP
biff = no
append_dot_mydomain = no
EOF
# The package's master.cf with the SMTP listener on our port and nothing
# chrooted (the queue directory holds no copy of /etc).
awk -v port="$port" '
  /^#/ || /^[ \t]/ || NF < 8 { print; next }
  $1 == "smtp" && $2 == "inet" { $1 = "127.0.0.1:" port }
  { $5 = "n"; print }
' /etc/postfix/master.cf >"$cfg/master.cf"
grep -q "^127.0.0.1:$port " "$cfg/master.cf" \
  || echo "127.0.0.1:$port inet n - n - - smtpd" >>"$cfg/master.cf"

if ! "$PF" -c "$cfg" start >"$tmp/start.log" 2>&1; then
  cat "$tmp/start.log" >&2
  # Postfix reports to syslog; a terminal makes it say why on stderr too.
  command -v script >/dev/null && script -qc "$PF -c $cfg start" /dev/null >&2 || true
  skip "Postfix did not start"
fi
for _ in $(seq 1 100); do
  (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
  sleep 0.1
done

"$bench" "${args[@]}" --baseline-port "$port" --baseline-maildir "$tmp/mail/alice"
