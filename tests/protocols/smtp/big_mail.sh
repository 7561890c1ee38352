#!/usr/bin/env bash
# Mail up to the size the server announces (docs/smtp.md, "Large
# messages"): Python's smtplib sends a 24.9 MB message to 1, 2 and 100
# local recipients while the node's RSS is sampled; every stored copy is
# read back over HTTP with Range reads (its size, its last byte, 4 seeded
# windows), and whole (SHA-256) for 1 and 2 recipients and 3 of the 100; a message over SIZE is refused with 552 before DATA when the
# client declares its size and after DATA when it does not. The node is
# always killed on exit.
#
#   tests/protocols/smtp/big_mail.sh PATH/TO/mantissa
set -euo pipefail

M=${1:?usage: big_mail.sh PATH/TO/mantissa}
. "$(dirname "$0")/../../support/node.sh"
node_tmp bigmail big_mail
NODE_FAIL_TAIL=30

command -v python3 >/dev/null || fail "python3 is not installed"

node_site mail
echo "creating 100 accounts"
for i in $(seq 0 99); do
  echo "password $i" | "$M" user add "u$i@example.com" --product mail \
    --password-stdin --data "$D" >/dev/null
done

# Freed memory goes back at once under AddressSanitizer too (no
# quarantine), so the RSS samples mean the same in every build.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0" \
  node_start --data "$D" --http 127.0.0.1:0 --smtp 127.0.0.1:0 --no-demo
node_wait_url http
smtp_port=$(sed -n 's|.*serving smtp on 127.0.0.1:\([0-9]*\) .*|\1|p' "$tmp/out")
[ -n "$smtp_port" ] || fail "no 'serving smtp on' line"

python3 - "$smtp_port" "$base" "$node_pid" <<'PY' || fail "see above"
import base64, hashlib, json, random, smtplib, sys, threading, time
import urllib.request

port, base, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
seed = int(time.time())
print(f"seed {seed}")
rng = random.Random(seed)

def rss_kib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

class sampler:
    def __init__(self):
        self.peak = rss_kib()
        self.stop = False
        self.t = threading.Thread(target=self.run)
        self.t.start()
    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_kib())
            time.sleep(0.01)
    def done(self):
        self.stop = True
        self.t.join()
        return self.peak

def message(size, subject):
    head = (f"From: sender@remote.example\r\nTo: undisclosed-recipients:;\r\n"
            f"Subject: {subject}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: application/octet-stream\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n").encode()
    raw = rng.randbytes((size - len(head)) * 3 // 4 + 64)
    body = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    body = body[: size - len(head) - 2] + b"\r\n"
    assert not body.startswith(b".")
    return head + body

def http(method, path, body=None, token=None, headers=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    if token:
        req.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    with urllib.request.urlopen(req, timeout=300) as r:
        return r.status, dict(r.headers), r.read()

tokens = {}
def token(i):
    if i not in tokens:
        _, _, b = http("POST", "/api/login",
                       {"username": f"u{i}@example.com", "password": f"password {i}"})
        tokens[i] = json.loads(b)["token"]
    return tokens[i]

def message_id(i, subject):
    addr = f"u{i}@example.com"
    _, _, b = http("GET", f"/api/stores/{addr}/items/mail.message?limit=1000",
                   token=token(i))
    ids = [m["id"] for m in json.loads(b)["items"] if m["subject"] == subject]
    assert len(ids) == 1, f"{addr}: {len(ids)} copies of {subject}"
    return addr, ids[0]

def read_range(i, addr, mid, spec):
    st, h, part = http("GET", f"/api/stores/{addr}/mail/{mid}/raw", token=token(i),
                       headers={"Range": spec})
    assert st == 206, f"Range {spec}: {st}"
    return h.get("Content-Range", ""), part

def check_copy(i, subject, msg, whole_too):
    """u<i>'s copy of `subject` against `msg`: its size and last byte with
    Range reads, 4 seeded 64 KiB windows, and (whole_too) every byte."""
    addr, mid = message_id(i, subject)
    problems = []
    crange, last = read_range(i, addr, mid, "bytes=-1")
    total = int(crange.rsplit("/", 1)[1])
    offset = total - len(msg)  # the Received header comes first
    if offset <= 0 or offset > 4096:
        problems.append(f"size {total} for a message of {len(msg)}")
    if last != msg[-1:]:
        problems.append("the last byte read with Range differs")
    for _ in range(4):
        at = rng.randrange(0, len(msg) - 65536)
        _, part = read_range(i, addr, mid, f"bytes={offset + at}-{offset + at + 65535}")
        if part != msg[at:at + 65536]:
            problems.append(f"bytes {at}..+64K differ")
    if whole_too:
        _, _, whole = http("GET", f"/api/stores/{addr}/mail/{mid}/raw", token=token(i))
        if hashlib.sha256(whole[-len(msg):]).digest() != hashlib.sha256(msg).digest() \
           or len(whole) != total:
            problems.append("SHA-256 of the whole copy differs")
    return problems

size = 24_900_000
with smtplib.SMTP("127.0.0.1", port, timeout=600) as s:
    s.ehlo("client.example")
    announced = s.esmtp_features.get("size")
    print(f"SIZE {announced}")
    assert announced and int(announced) >= size

ok = True
for n in (1, 2, 100):
    subject = f"big to {n}"
    msg = message(size, subject)
    rcpts = [f"u{i}@example.com" for i in range(n)]
    before = rss_kib()
    sam = sampler()
    t0 = time.time()
    with smtplib.SMTP("127.0.0.1", port, timeout=600) as s:
        refused = s.sendmail("sender@remote.example", rcpts, msg)
    took = time.time() - t0
    peak = sam.done()
    grew_mib = (peak - before) / 1024
    msg_mib = len(msg) / 2**20
    print(f"{n} recipients: {took:.2f} s, RSS {before/1024:.0f} MiB -> peak "
          f"{peak/1024:.0f} MiB (+{grew_mib:.0f} MiB for a {msg_mib:.1f} MiB message)")
    assert not refused, refused
    # About twice the message, however many recipients, with room for
    # SQLite's page cache and the allocator.
    if grew_mib > 2 * msg_mib + 48:
        print(f"FAILED: RSS grew by {grew_mib:.0f} MiB"); ok = False
    # Every copy: size, last byte and 4 windows; every byte (SHA-256 of the
    # whole copy read over HTTP) of every copy for 1 and 2 recipients, and
    # of the first, a random and the last of 100 (reading 2.4 GB back takes
    # minutes in a sanitizer build; the copies share one code path).
    full = set(range(n)) if n <= 2 else {0, rng.randrange(1, n - 1), n - 1}
    for i in range(n):
        for p in check_copy(i, subject, msg, i in full):
            print(f"FAILED: u{i}: {p}"); ok = False
    print(f"{n} recipients: every copy checked ({len(full)} whole, byte for byte)")

# Over SIZE: declared, refused before DATA; undeclared, after it.
limit = int(announced)
big = message(limit + 1000, "too big")
with smtplib.SMTP("127.0.0.1", port, timeout=600) as s:
    s.ehlo("client.example")
    code, text = s.mail("sender@remote.example", [f"SIZE={len(big)}"])
    print(f"declared over SIZE: {code} {text.decode()}")
    assert code == 552, code
with smtplib.SMTP("127.0.0.1", port, timeout=600) as s:
    s.ehlo("client.example")
    s.does_esmtp = False  # no SIZE parameter on MAIL FROM
    code, _ = s.mail("sender@remote.example")
    assert code == 250
    code, _ = s.rcpt("u0@example.com")
    assert code == 250
    code, text = s.data(big)
    print(f"undeclared over SIZE: {code} {text.decode()}")
    assert code == 552, code
sys.exit(0 if ok else 1)
PY
echo "big_mail: ok"
