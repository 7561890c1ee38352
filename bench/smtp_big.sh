#!/usr/bin/env bash
# A 24.9 MB message to 100 local recipients: Mantissa against Postfix in
# the same run (issue M21). Prints the delivery time and the peak RSS of
# each, and the ratios.
#
#   bash bench/smtp_big.sh [PATH/TO/mantissa]     (as root; a release build)
#
# How it is made fair:
# - The same message (seeded random base64, printed seed), the same 100
#   recipients, the same client (Python's smtplib, one transaction) on
#   127.0.0.1, one after the other on an idle machine.
# - Both deliver 100 durable copies: Mantissa answers 250 only once every
#   recipient's store committed it with its WAL synced; Postfix answers 250
#   once its queue file is synced, then its `virtual` agent writes one
#   Maildir file per recipient (synced before it is renamed into new/). The
#   Postfix time runs until the 100th file is in new/.
# - Postfix runs as a private instance (its own config and queue under a
#   temporary directory) with `virtual_destination_concurrency_limit = 4`,
#   the number of stores Mantissa delivers one message to at a time.
# - Peak RSS: Mantissa's one process; for Postfix the sum over its master
#   and every child (smtpd, cleanup, qmgr, virtual), sampled every 10 ms.
set -euo pipefail

M=${1:-build/cli/mantissa}
[ -x "$M" ] || { echo "no $M: build it first (cmake --build build)" >&2; exit 2; }
if ! command -v /usr/sbin/postfix >/dev/null; then
  echo "installing postfix"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null
fi

. "$(dirname "$0")/../tests/support/node.sh"
node_tmp smtpbench smtp_big
chmod 755 "$tmp"
PF=$tmp/pf
stop_postfix() {
  /usr/sbin/postfix -c "$PF/etc" stop >/dev/null 2>&1 || true
}
NODE_CLEANUP=stop_postfix

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# -- Postfix: a private instance delivering to 100 Maildirs ----------------------

pf_port=$(free_port)
mkdir -p "$PF/etc" "$PF/spool" "$PF/data" "$PF/mail"
uid=$(id -u postfix)
gid=$(id -g postfix)
chown postfix:postfix "$PF/data" "$PF/mail"
: >"$PF/etc/vmailbox"
for i in $(seq 0 99); do
  echo "u$i@example.com example.com/u$i/" >>"$PF/etc/vmailbox"
done
cat >"$PF/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF/spool
data_directory = $PF/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.example.com
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
virtual_mailbox_domains = example.com
virtual_mailbox_base = $PF/mail
virtual_mailbox_maps = texthash:$PF/etc/vmailbox
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
virtual_mailbox_limit = 0
message_size_limit = 30000000
virtual_destination_concurrency_limit = 4
maillog_file = $PF/maillog
maillog_file_prefixes = $tmp
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
mynetworks = 127.0.0.0/8
EOF
# Its smtpd on our port; no service chrooted (the instance has no chroot
# tree of its own).
sed -E -e "s/^smtp      inet/127.0.0.1:$pf_port inet/" \
  -e 's/^([^# ]+ +[^ ]+ +[^ ]+ +[^ ]+ +)y( )/\1n\2/' /etc/postfix/master.cf \
  >"$PF/etc/master.cf"
grep -q '^postlog' "$PF/etc/master.cf" \
  || echo 'postlog   unix-dgram n  -       n       -       1       postlogd' \
       >>"$PF/etc/master.cf"
/usr/sbin/postfix -c "$PF/etc" set-permissions >/dev/null 2>&1 || true
if ! /usr/sbin/postfix -c "$PF/etc" start >/dev/null 2>&1; then
  echo "postfix did not start (postfix -c $PF/etc check says why)" >&2
  exit 1
fi
for _ in $(seq 1 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1',$pf_port),1)" \
    2>/dev/null && break
  sleep 0.1
done
pf_master=$(tr -d ' ' <"$PF/spool/pid/master.pid")

# -- Mantissa: the same 100 users ------------------------------------------------

node_site mail
echo "creating 100 accounts"
for i in $(seq 0 99); do
  echo "password $i" | "$M" user add "u$i@example.com" --product mail \
    --password-stdin --data "$D" >/dev/null
done
m_port=$(free_port)
node_start --data "$D" --http 127.0.0.1:0 --smtp "127.0.0.1:$m_port" --no-demo
for _ in $(seq 1 600); do
  grep -q "serving smtp on" "$tmp/out" 2>/dev/null && break
  sleep 0.1
done

python3 - "$m_port" "$node_pid" "$pf_port" "$pf_master" "$PF/mail" <<'PY'
import base64, os, random, smtplib, sys, threading, time

m_port, m_pid, pf_port, pf_master, maildirs = (
    int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
seed = int(os.environ.get("SEED", time.time()))
print(f"seed {seed}")
rng = random.Random(seed)
size = 24_900_000
head = (b"From: sender@remote.example\r\nTo: undisclosed-recipients:;\r\n"
        b"Subject: bench\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n")
body = base64.encodebytes(rng.randbytes(size * 3 // 4)).replace(b"\n", b"\r\n")
msg = head + body[: size - len(head) - 2] + b"\r\n"
rcpts = [f"u{i}@example.com" for i in range(100)]

def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

def tree(root):
    kids = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(p))
            except OSError:
                pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out

class sampler:
    def __init__(self, pids):
        self.pids, self.peak, self.stop = pids, 0, False
        self.t = threading.Thread(target=self.run); self.t.start()
    def run(self):
        while not self.stop:
            self.peak = max(self.peak, sum(rss_kib(p) for p in self.pids()))
            time.sleep(0.01)
    def done(self):
        self.stop = True; self.t.join(); return self.peak / 1024

def delivered():
    n = 0
    for i in range(100):
        d = os.path.join(maildirs, f"example.com/u{i}/new")
        if os.path.isdir(d):
            n += len(os.listdir(d))
    return n

# Mantissa: 250 comes after every store committed.
base_m = rss_kib(m_pid) / 1024
s = sampler(lambda: [m_pid])
t0 = time.time()
with smtplib.SMTP("127.0.0.1", m_port, timeout=600) as c:
    assert not c.sendmail("sender@remote.example", rcpts, msg)
m_time = time.time() - t0
m_peak = s.done()

# Postfix: 250 after queueing; then until the 100th Maildir file.
base_pf = sum(rss_kib(p) for p in tree(pf_master)) / 1024
s = sampler(lambda: tree(pf_master))
t0 = time.time()
with smtplib.SMTP("127.0.0.1", pf_port, timeout=600) as c:
    assert not c.sendmail("sender@remote.example", rcpts, msg)
queued = time.time() - t0
while delivered() < 100:
    if time.time() - t0 > 600:
        sys.exit("postfix did not deliver 100 copies in 600 s")
    time.sleep(0.01)
pf_time = time.time() - t0
pf_peak = s.done()

print(f"message {len(msg)/2**20:.1f} MiB to 100 local recipients")
print(f"mantissa: {m_time:.2f} s until 250 (all stored); RSS {base_m:.0f} -> peak {m_peak:.0f} MiB")
print(f"postfix:  {pf_time:.2f} s until 100 Maildir files ({queued:.2f} s to 250); "
      f"RSS (all processes) {base_pf:.0f} -> peak {pf_peak:.0f} MiB")
print(f"ratio mantissa/postfix: time {m_time/pf_time:.2f}x, peak RSS {m_peak/pf_peak:.2f}x")
PY
