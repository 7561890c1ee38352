#!/usr/bin/env bash
# End to end with real SMTP clients: set a site up offline, start
# `mantissa start --smtp 127.0.0.1:0` with a self-signed certificate, send
# mail with swaks and with Python's smtplib (multi-recipient, unknown
# recipient, relay attempt, SIZE, pipelining, STARTTLS + AUTH PLAIN,
# dot-stuffing), read it back over HTTP, then stop the node with SIGTERM.
# The node is always killed on exit.
#
#   tests/protocols/smtp/smtp_flow.sh PATH/TO/mantissa
set -euo pipefail

M=${1:?usage: smtp_flow.sh PATH/TO/mantissa}
. "$(dirname "$0")/../../support/node.sh"
node_tmp smtp smtp_flow

for tool in swaks python3 openssl curl; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/setup installs it)"
done

node_site mail
for who in alice bob; do
  echo "$who long password" | "$M" user add "$who@example.com" --product mail \
    --password-stdin --data "$D" >/dev/null
done
"$M" config set smtp.max_message_size 64K --data "$D" >/dev/null
"$M" config set smtp.hostname mx.example.com --data "$D" >/dev/null

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mx.example.com \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1 \
  || fail "cannot make a test certificate"

node_start --data "$D" --http 127.0.0.1:0 --smtp 127.0.0.1:0 --no-demo \
  --smtp-cert "$tmp/cert.pem" --smtp-key "$tmp/key.pem"
node_wait_url http
smtp_port=$(sed -n 's|.*serving smtp on 127.0.0.1:\([0-9]*\) .*|\1|p' "$tmp/out")
[ -n "$smtp_port" ] || fail "no 'serving smtp on' line"
grep -q "for example.com (STARTTLS)" "$tmp/out" || fail "STARTTLS not enabled"

S=(--server 127.0.0.1 --port "$smtp_port" --helo client.example
   --from carol@remote.example --timeout 30)

# -- swaks ----------------------------------------------------------------------

swaks "${S[@]}" --to alice@example.com --header "Subject: swaks plain" \
  --body "hello from swaks" >"$tmp/swaks1" 2>&1 \
  || { cat "$tmp/swaks1" >&2; fail "swaks: plain delivery"; }
grep -q "<-  250 2.0.0 Ok: delivered" "$tmp/swaks1" || fail "swaks: no 250 after DATA"

swaks "${S[@]}" --to alice@example.com,bob@example.com --pipeline \
  --header "Subject: swaks pipelined" --body "both of you" >"$tmp/swaks2" 2>&1 \
  || { cat "$tmp/swaks2" >&2; fail "swaks: pipelined multi-recipient delivery"; }

if swaks "${S[@]}" --to someone@elsewhere.example >"$tmp/swaks3" 2>&1; then
  fail "swaks: relaying was accepted"
fi
grep -q "550 5.7.1 <someone@elsewhere.example>: Relay access denied" "$tmp/swaks3" \
  || { cat "$tmp/swaks3" >&2; fail "swaks: no 550 5.7.1 for a relay attempt"; }

if swaks "${S[@]}" --to nobody@example.com >"$tmp/swaks4" 2>&1; then
  fail "swaks: an unknown recipient was accepted"
fi
grep -q "550 5.1.1" "$tmp/swaks4" || fail "swaks: no 550 5.1.1 for an unknown user"

swaks "${S[@]}" --to bob@example.com -tls --auth PLAIN \
  --auth-user alice@example.com --auth-password "alice long password" \
  --header "Subject: swaks tls" --body "over TLS" >"$tmp/swaks5" 2>&1 \
  || { cat "$tmp/swaks5" >&2; fail "swaks: STARTTLS + AUTH PLAIN"; }
grep -q "235 2.7.0" "$tmp/swaks5" || fail "swaks: AUTH PLAIN not accepted"

# -- Python's smtplib -------------------------------------------------------------

python3 - "$smtp_port" "$base" <<'EOF' || fail "smtplib checks"
import base64, json, smtplib, ssl, sys, urllib.request

port, base = int(sys.argv[1]), sys.argv[2]

def check(cond, what):
    if not cond:
        print("smtplib: " + what, file=sys.stderr)
        sys.exit(1)

msg = (b"From: Carol <carol@remote.example>\r\n"
       b"To: alice@example.com\r\n"
       b"Subject: dots\r\n"
       b"Message-ID: <dots-1@remote.example>\r\n"
       b"\r\n"
       b".\r\n..two\r\n.leading\r\nend.\r\n")

with smtplib.SMTP("127.0.0.1", port, "client.example", timeout=30) as s:
    code, text = s.ehlo()
    check(code == 250, "EHLO")
    for ext in ("size", "pipelining", "8bitmime", "enhancedstatuscodes",
                "starttls", "auth"):
        check(s.has_extn(ext), "missing extension " + ext)
    check(s.esmtp_features["size"] == str(64 * 1024), "SIZE value")
    refused = s.sendmail("carol@remote.example",
                         ["alice@example.com", "nobody@example.com",
                          "bob@example.com"], msg)
    check(list(refused) == ["nobody@example.com"], "refused: %r" % refused)
    check(refused["nobody@example.com"][0] == 550, "550 for nobody")
    try:
        s.sendmail("carol@remote.example", ["alice@example.com"],
                   b"Subject: big\r\n\r\n" + b"x" * 70000 + b"\r\n")
        check(False, "a message over SIZE was accepted")
    except smtplib.SMTPSenderRefused as e:
        check(e.smtp_code == 552, "552 for SIZE, got %d" % e.smtp_code)
    code, _ = s.verify("alice")
    check(code == 252, "VRFY")
    code, _ = s.docmd("FROB")
    check(code == 500, "unknown command")

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with smtplib.SMTP("127.0.0.1", port, "client.example", timeout=30) as s:
    s.starttls(context=ctx)
    s.login("bob@example.com", "bob long password")
    s.sendmail("bob@example.com", ["alice@example.com"],
               b"Subject: from bob\r\n\r\nhi alice\r\n")
    try:
        s.sendmail("bob@example.com", ["x@elsewhere.example"], b"Subject: r\r\n\r\nx\r\n")
        check(False, "an authenticated relay was accepted")
    except smtplib.SMTPRecipientsRefused as e:
        check(e.recipients["x@elsewhere.example"][0] == 550, "relay 550")

# Over HTTP, as alice: the messages with subject, sender and date.
def call(path, body=None, token=None):
    req = urllib.request.Request(base + path, data=body)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())

login = call("/api/login", json.dumps(
    {"username": "alice@example.com", "password": "alice long password"}).encode())
items = call("/api/stores/alice@example.com/items/mail.message", token=login["token"])
subjects = sorted(i["subject"] for i in items["items"])
check(subjects == ["dots", "from bob", "swaks pipelined", "swaks plain"],
      "alice's subjects: %r" % subjects)
for i in items["items"]:
    check(i["received"], "no received date")
    check(i["sender"] in ("carol@remote.example", "bob@example.com"),
          "sender %r" % i["sender"])
dots = [i for i in items["items"] if i["subject"] == "dots"][0]
raw = base64.b64decode(dots["raw"])
check(raw.startswith(b"Received: from client.example"), "Received header first")
check(raw.endswith(b"\r\n" + msg), "the stored bytes differ from what was sent")
check(dots["message_id"] == "<dots-1@remote.example>", "message id")
EOF

# -- stop ---------------------------------------------------------------------

kill -TERM "$node_pid"
status=0
wait "$node_pid" || status=$?
node_pid=
[ "$status" -eq 0 ] || fail "the node exited with $status on SIGTERM"
echo "smtp_flow: ok"
