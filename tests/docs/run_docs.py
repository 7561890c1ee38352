#!/usr/bin/env python3
"""Runs the runnable shell blocks of one Markdown file, in order, and checks
the output they show. The rules are written down in docs/runnable-docs.md.

    run_docs.py --mantissa PATH/TO/mantissa [--example-offering DIR]
                [--example-actor DIR] FILE.md
    run_docs.py --scan FILE.md...

Exit status: 0 when every command succeeded and printed what the file shows,
1 on the first failure (naming the file, the block and the line), also when
the file has no runnable block (it should have no test) or needs a worked
example that is not built.

--scan prints, for each file, a line "FILE<TAB>BLOCKS<TAB>EXAMPLES": the
number of runnable blocks and the examples they use (offering, actor,
comma-separated; "-" for none). tests/CMakeLists.txt adds a test only for a
file with blocks, and makes it wait for the examples it uses.

Everything happens in a fresh temporary directory laid out like a checkout
(build/cli/mantissa is the program under test, and `mantissa` is on PATH),
with HOME pointing there too. Every process the blocks start is stopped,
and the directory removed, before the script exits.
"""

import argparse
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

MARKER = re.compile(r"^<!--\s*runnable((?:\s+[a-z-]+)*)\s*-->\s*$")
OPTIONS = {"node"}
FENCE = re.compile(r"^(`{3,}|~{3,})\s*(\S*)")
SHELLS = {"sh", "bash", "shell", "console"}
# A node command: runs in the background, as in a terminal of its own.
START = re.compile(r"^\s*(\"?\$M\"?|\"?\$\{M\}\"?|mantissa|\S*/mantissa)\s+start(\s|$)")
# Ports the test replaces by free ones (loopback only).
PORT = re.compile(r"(?<![\w.])((?:127\.0\.0\.1|localhost):|--port\s+)(\d{2,5})\b")
# A fixed port on an address the test does not move: it could be taken.
FIXED_PORT = re.compile(r"(?<![\w.])(0\.0\.0\.0|\[::1?\]|::):([1-9]\d{0,4})\b")
# What makes a node's HTTP port explicit, so that the test can move it.
HTTP_OPTION = re.compile(r"\s--http(\s|=)")
HTTP_PORT_ADDED = re.compile(r"\sport\s+add\s+http\s")
COMMAND_TIMEOUT = 60
READY_TIMEOUT = 60
STOP_TIMEOUT = 10
# Directories of the temporary checkout that stand for examples the reader
# builds with the commands shown in the docs (scripts/test builds the same).
EXAMPLES = {"build-todo": "example_offering", "build-hello": "example_actor"}


class Failure(Exception):
    pass


class Step:
    def __init__(self, line, text):
        self.line = line
        self.text = text
        self.expected = []  # (line, text)


class Block:
    def __init__(self, number, line, options, steps):
        self.number = number
        self.line = line
        self.options = options
        self.steps = steps


def complete(lines):
    """Whether the lines form complete shell commands (bash -n agrees)."""
    if lines[-1].rstrip().endswith("\\"):
        return False
    r = subprocess.run(["bash", "-n"], input="\n".join(lines) + "\n",
                       capture_output=True, text=True)
    return r.returncode == 0


def split_block(path, first_line, lines):
    """Commands and the output shown after them (comments right after a
    command, with no blank line between)."""
    steps, pending, pending_line, after_command = [], [], 0, False
    for i, raw in enumerate(lines):
        n = first_line + i
        stripped = raw.strip()
        if pending:
            pending.append(raw)
            if complete(pending):
                steps.append(Step(pending_line, "\n".join(pending)))
                pending, after_command = [], True
            continue
        if not stripped:
            after_command = False
            continue
        if stripped.startswith("#"):
            if after_command:
                text = stripped[1:]
                steps[-1].expected.append((n, text[1:] if text.startswith(" ") else text))
            continue
        pending, pending_line = [raw], n
        if complete(pending):
            steps.append(Step(n, raw))
            pending, after_command = [], True
    if pending:
        raise Failure(f"{path}:{pending_line}: the command starting here does not end in its block")
    return steps


def parse(path, text, split=True):
    """The runnable blocks of a file, and the lines of shell blocks that are
    not marked runnable. Without `split`, each block is one step holding
    its whole text (enough to count blocks and see what they use)."""
    blocks, unmarked = [], []
    lines = text.split("\n")
    i, options = 0, None
    while i < len(lines):
        line = lines[i]
        m = MARKER.match(line.strip())
        if m:
            options = set(m.group(1).split())
            unknown = options - OPTIONS
            if unknown:
                raise Failure(f"{path}:{i + 1}: unknown runnable option {' '.join(sorted(unknown))}")
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            f = FENCE.match(nxt.strip())
            if not f or f.group(2) not in SHELLS:
                raise Failure(f"{path}:{i + 1}: a runnable marker must be followed directly by a ```sh block")
            i += 1
            continue
        f = FENCE.match(line.strip())
        if f:
            fence, lang = f.group(1), f.group(2)
            body, j = [], i + 1
            while j < len(lines) and not lines[j].strip().startswith(fence):
                body.append(lines[j])
                j += 1
            if options is not None:
                steps = (split_block(path, i + 2, body) if split
                         else [Step(i + 2, "\n".join(body))])
                blocks.append(Block(len(blocks) + 1, i + 1, options, steps))
            elif lang in SHELLS:
                unmarked.append(i + 1)
            options = None
            i = j + 1
            continue
        if line.strip():
            options = None
        i += 1
    return blocks, unmarked


def check_ports(path, blocks):
    """Fails on a port the test could not move to a free one: a node
    started on the default HTTP port (127.0.0.1:8080, not in the text), or
    a fixed port on an address other than 127.0.0.1 or localhost. Either
    would make the file fail whenever something else holds that port (the
    reader's own node from `bash scripts/run`, say)."""
    http_added = False
    for b in blocks:
        for s in b.steps:
            where = f"{path}, block {b.number} (line {b.line}), line {s.line}"
            m = FIXED_PORT.search(s.text)
            if m:
                raise Failure(f"{where}: {m.group(0)} is a fixed port on an address the test "
                              "does not move to a free port; use 127.0.0.1 (docs/runnable-docs.md)")
            if START.match(s.text) and not HTTP_OPTION.search(" " + s.text) and not http_added:
                raise Failure(f"{where}: this `mantissa start` serves HTTP on the default "
                              "127.0.0.1:8080, which the text does not show and the test cannot "
                              "move to a free port; name it (--http 127.0.0.1:8080) or add an http "
                              "port before (mantissa port add http 127.0.0.1:8080)")
            if HTTP_PORT_ADDED.search(" " + s.text):
                http_added = True


def pattern(expected):
    """An expected line: the whole output line, `…` standing for any text
    and a run of spaces for any run of whitespace (tabs in tables)."""
    def part(text):
        return r"\s+".join(re.escape(w) for w in re.split(r"\s+", text))
    return re.compile(".*".join(part(p) for p in expected.split("…")))


def find_subset(expected, output):
    """Matches the expected lines in order against lines of the output;
    returns the first expected (line, text) not found, or None."""
    lines = [l.rstrip() for l in output.replace("\r", "\n").split("\n")]
    k = 0
    for ln, text in expected:
        p = pattern(text.rstrip())
        while k < len(lines) and not p.fullmatch(lines[k]):
            k += 1
        if k == len(lines):
            return (ln, text)
        k += 1
    return None


def free_ports(count):
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tail(text, lines=60):
    parts = text.rstrip("\n").split("\n")
    if len(parts) > lines:
        parts = [f"[… {len(parts) - lines} lines]"] + parts[-lines:]
    return "\n".join("    " + p for p in parts)


class Shell:
    """One bash for the whole file, so variables carry from block to block.
    Commands run from files (stdin /dev/null), their output into files; the
    shell's own stdout only carries the status lines this class reads."""

    def __init__(self, cwd, env):
        self.dir = os.path.join(cwd, ".docs-test")
        os.mkdir(self.dir)
        self.count = 0
        self.nodes = []  # (pid, output file, step)
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"], cwd=cwd, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(os.path.join(self.dir, "shell.err"), "w"),
            start_new_session=True, bufsize=0)
        self.buffer = b""
        self.send("set -o pipefail")

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def reply(self, prefix, timeout):
        """The rest of the next line of the shell's stdout that starts with
        `prefix`, or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                text = line.decode(errors="replace")
                if text.startswith(prefix):
                    return text[len(prefix):].strip()
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                data = os.read(fd, 4096)
                if not data:
                    raise Failure("the shell exited (did a command run `exit`?)")
                self.buffer += data

    def files(self, text):
        self.count += 1
        f = os.path.join(self.dir, f"{self.count}.sh")
        out = os.path.join(self.dir, f"{self.count}.out")
        with open(f, "w") as fh:
            fh.write(text + "\n")
        return f, out

    def run(self, text, timeout=COMMAND_TIMEOUT):
        """Runs a command in the shell; returns (status or None on timeout, output)."""
        f, out = self.files(text)
        self.send(f". {shlex.quote(f)} >{shlex.quote(out)} 2>&1 </dev/null; echo \"__rc $?\"")
        rc = self.reply("__rc ", timeout)
        return (None if rc is None else int(rc)), read(out)

    def start(self, text):
        """Starts a node command in the background; returns its pid and output file."""
        f, out = self.files("exec " + text.lstrip())
        self.send(f". {shlex.quote(f)} >{shlex.quote(out)} 2>&1 </dev/null & echo \"__pid $!\"")
        pid = self.reply("__pid ", 10)
        if pid is None:
            raise Failure("the shell did not start the command")
        return int(pid), out

    def wait(self, pid, timeout):
        self.send(f"wait {pid}; echo \"__rc $?\"")
        rc = self.reply("__rc ", timeout)
        return None if rc is None else int(rc)

    def close(self):
        try:
            self.send("exit")
            self.proc.wait(timeout=5)
        except Exception:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Runner:
    def __init__(self, args, path, blocks):
        self.args = args
        self.path = path
        self.blocks = blocks
        self.ports = {}
        self.node_started = False
        self.checked = 0
        self.commands = 0

    def where(self, block, line):
        return f"{self.path}, block {block.number} (line {block.line}), line {line}"

    def substitute(self, text):
        return PORT.sub(lambda m: m.group(1) + str(self.ports.get(m.group(2), m.group(2))), text)

    def setup(self, tmp):
        os.makedirs(os.path.join(tmp, "build", "cli"))
        os.makedirs(os.path.join(tmp, "bin"))
        os.makedirs(os.path.join(tmp, "tmp"))
        program = os.path.abspath(self.args.mantissa)
        os.symlink(program, os.path.join(tmp, "build", "cli", "mantissa"))
        os.symlink(program, os.path.join(tmp, "bin", "mantissa"))
        for name, option in EXAMPLES.items():
            target = getattr(self.args, option)
            if target and os.path.isdir(target):
                os.symlink(os.path.abspath(target), os.path.join(tmp, name))
        env = dict(os.environ)
        for k in ("MANTISSA_DATA", "http_proxy", "https_proxy", "HTTP_PROXY",
                  "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            env.pop(k, None)
        env.update(HOME=tmp, TMPDIR=os.path.join(tmp, "tmp"),
                   PATH=os.path.join(tmp, "bin") + os.pathsep + env.get("PATH", ""),
                   NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        return env

    def pick_ports(self):
        wanted = set()
        for b in self.blocks:
            if "node" in b.options:
                wanted.add("8080")
            for s in b.steps:
                for text in [s.text] + [e for _, e in s.expected]:
                    wanted.update(m.group(2) for m in PORT.finditer(text))
        wanted = sorted(wanted)
        self.ports = dict(zip(wanted, map(str, free_ports(len(wanted)))))

    def wait_ready(self, shell, pid, out, expected, where):
        """Waits until a node printed the expected lines and serves HTTP."""
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            text = read(out)
            missing = find_subset(expected, text)
            if missing is None and "mantissa: serving http" in text:
                return text
            if not alive(pid):
                rc = shell.wait(pid, 5)
                raise Failure(f"{where}: the node exited with status {rc} before it was ready\n{tail(text)}")
            if time.monotonic() > deadline:
                what = f"line {missing[0]}: {missing[1]}" if missing else "a line 'mantissa: serving http…'"
                raise Failure(f"{where}: the node did not print {what} within {READY_TIMEOUT} s\n{tail(text)}")
            time.sleep(0.05)

    def start_node(self, shell, block):
        text = f"mantissa start --http 127.0.0.1:{self.ports['8080']}"
        pid, out = shell.start(text)
        shell.nodes.append((pid, out, f"{self.path}, block {block.number} (line {block.line}): the node of `bash scripts/run`"))
        self.wait_ready(shell, pid, out, [], shell.nodes[-1][2])
        self.node_started = True

    def run_step(self, shell, block, step):
        where = self.where(block, step.line)
        text = self.substitute(step.text)
        expected = [(ln, self.substitute(e)) for ln, e in step.expected]
        self.commands += 1
        if START.match(text):
            # `mantissa start … &` reads the same to the test; the shell's
            # $! is the node either way, so `kill $!` stops it.
            if text.rstrip().endswith("&") and not text.rstrip().endswith("&&"):
                text = text.rstrip()[:-1]
            pid, out = shell.start(text)
            shell.nodes.append((pid, out, where))
            self.wait_ready(shell, pid, out, expected, where)
            self.checked += len(expected)
            return
        rc, output = shell.run(text)
        if rc is None:
            raise Failure(f"{where}: no answer within {COMMAND_TIMEOUT} s from\n{tail(text)}\n  output:\n{tail(output)}")
        if rc != 0:
            raise Failure(f"{where}: exit status {rc} from\n{tail(text)}\n  output:\n{tail(output)}")
        missing = find_subset(expected, output)
        if missing:
            raise Failure(f"{where}: the output does not match line {missing[0]}:\n    {missing[1]}\n"
                          f"  command:\n{tail(text)}\n  output:\n{tail(output)}")
        self.checked += len(expected)

    def stop_nodes(self, shell):
        problems = []
        for pid, out, where in reversed(shell.nodes):
            running = alive(pid)
            if running:
                os.kill(pid, signal.SIGTERM)
            rc = shell.wait(pid, STOP_TIMEOUT)
            if rc == 127 and not running:
                continue  # stopped and waited for by the file itself
            if rc is None:
                os.kill(pid, signal.SIGKILL)
                shell.wait(pid, 5)
                problems.append(f"{where}: the node did not stop within {STOP_TIMEOUT} s of SIGTERM\n{tail(read(out))}")
            elif rc != 0:
                problems.append(f"{where}: the node exited with status {rc} on SIGTERM\n{tail(read(out))}")
        shell.nodes = []
        if problems:
            raise Failure("\n".join(problems))

    def run(self):
        tmp = tempfile.mkdtemp(prefix="mantissa-docs-")
        shell = None
        try:
            env = self.setup(tmp)
            self.pick_ports()
            shell = Shell(tmp, env)
            try:
                for block in self.blocks:
                    if "node" in block.options and not self.node_started:
                        self.start_node(shell, block)
                    for step in block.steps:
                        self.run_step(shell, block, step)
            except Failure as f:
                logs = "".join(f"\n  output of the node started at {w}:\n{tail(read(o), 30)}"
                               for _, o, w in shell.nodes)
                raise Failure(str(f) + logs)
            self.stop_nodes(shell)
        finally:
            if shell:
                for pid, _, _ in shell.nodes:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                shell.close()
            shutil.rmtree(tmp, ignore_errors=True)


def examples_used(blocks):
    """The example directories (keys of EXAMPLES) the blocks' commands use."""
    text = "\n".join(s.text for b in blocks for s in b.steps)
    return [d for d in EXAMPLES if re.search(r"(?<![\w.-])" + re.escape(d) + "/", text)]


def scan(files):
    """For tests/CMakeLists.txt: each file's runnable blocks and examples.
    A file whose markers do not parse counts as having blocks, so that its
    test runs and names the problem."""
    for f in files:
        with open(f) as fh:
            text = fh.read()
        try:
            blocks, _ = parse(f, text, split=False)
        except Failure:
            print(f"{f}\t1\t-")
            continue
        used = [EXAMPLES[d].split("_", 1)[1] for d in examples_used(blocks)]
        print(f"{f}\t{len(blocks)}\t{','.join(used) or '-'}")
    return 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--scan":
        return scan(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mantissa", required=True)
    ap.add_argument("--example-offering", dest="example_offering")
    ap.add_argument("--example-actor", dest="example_actor")
    ap.add_argument("file")
    args = ap.parse_args()
    # A test runner's SIGTERM (a timeout) still cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    name = os.path.relpath(args.file, os.path.join(os.path.dirname(__file__), "..", ".."))
    with open(args.file) as f:
        text = f.read()
    started = time.monotonic()
    try:
        blocks, unmarked = parse(name, text)
        if not blocks:
            raise Failure(f"{name}: no runnable blocks, so nothing to check; a file "
                          "without them gets no docs test (tests/CMakeLists.txt)")
        check_ports(name, blocks)
        for d in examples_used(blocks):
            target = getattr(args, EXAMPLES[d])
            if not (target and os.path.isdir(target)):
                raise Failure(f"{name}: needs the worked example {d}/, built into {target} "
                              "by the CTest fixture \"examples: …\" (tests/CMakeLists.txt), "
                              "which did not run or failed")
        runner = Runner(args, name, blocks)
        runner.run()
    except Failure as f:
        print(f"FAILED: {f}", file=sys.stderr)
        return 1
    note = f"; shell blocks not marked runnable at lines {', '.join(map(str, unmarked))}" if unmarked else ""
    print(f"{name}: {len(blocks)} blocks, {runner.commands} commands, {runner.checked} "
          f"output lines checked, {time.monotonic() - started:.1f} s{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
