"""A recorder of network use: runs a command where the only network is loopback and every
attempt to reach anything else is written down.

:func:`record` runs the command inside new network and mount namespaces (``unshare -n -m``, as
root): only ``lo`` is up, ``/etc/resolv.conf`` is replaced by one naming 127.0.0.1, where a stub
DNS server (UDP and TCP port 53) logs every query and answers NXDOMAIN, so every host-name lookup
of any process, native code included (onnxruntime's telemetry is C++), is seen. Every Python
process started inside (Streamlit, Ray workers) also loads an audit hook (``sitecustomize`` on
``PYTHONPATH``) that logs ``socket.getaddrinfo``, ``socket.connect`` and ``socket.sendto`` to
anything but loopback, which catches connections to bare IP addresses too. Nothing can leave
the machine: the namespace has no route out. HOME and TMPDIR are fresh folders, listed after.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

_HOOK = r"""
import json, os, sys
_LOG = os.environ.get("NETRECORD_AUDIT_LOG")

def _local(host):
    if host is None or isinstance(host, int):
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host)
    return host.startswith(("127.", "/", "::ffff:127.")) or host in ("::1", "localhost", "0.0.0.0", "::", "")

def _hook(event, args):
    if not _LOG or event not in ("socket.getaddrinfo", "socket.connect", "socket.sendto", "socket.gethostbyname"):
        return
    try:
        if event in ("socket.getaddrinfo", "socket.gethostbyname"):
            host = args[0]
        else:
            if not isinstance(args[1], tuple):
                return  # AF_UNIX
            host = args[1][0]
        if _local(host):
            return
        with open(_LOG, "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "event": event, "host": str(host), "argv0": (sys.argv or ["?"])[0][-80:]}) + "\n")
    except Exception:
        pass

sys.addaudithook(_hook)
"""


@dataclass
class NetReport:
    """What a recorded command did.

    Attributes:
        returncode: the command's exit status (None: killed at the time limit).
        output: its stdout and stderr.
        dns: every DNS query: {"t": seconds after start, "name", "type"}.
        audit: every Python socket event aimed beyond loopback: {"pid", "event", "host", "argv0"}.
        home_files, tmp_files: files left in its fresh HOME and TMPDIR (relative paths).
    """

    returncode: int | None
    output: str
    dns: list[dict] = field(default_factory=list)
    audit: list[dict] = field(default_factory=list)
    home_files: list[str] = field(default_factory=list)
    tmp_files: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """The host names looked up, sorted, once each."""
        return sorted({q["name"] for q in self.dns})


def unavailable() -> str | None:
    """Why :func:`record` cannot run here (not root, no ``unshare``), or None."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "unshare/mount (util-linux) not installed"
    probe = subprocess.run(["unshare", "-n", "-m", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot make a network namespace here (unshare -n -m: {probe.stderr.strip() or probe.returncode})"
    return None


def record(command: list[str], seconds: float, cwd: Path, env: dict[str, str] | None = None) -> NetReport:
    """Run ``command`` (in ``cwd``, with ``env`` added to this process's environment) for at most
    ``seconds`` seconds in a loopback-only network namespace; returns what it tried to reach.

    Raises:
        RuntimeError: the namespace could not be set up (see :func:`unavailable`).
    """
    work = Path(tempfile.mkdtemp(prefix="netrecord-"))
    try:
        spec = {"command": command, "seconds": seconds, "cwd": str(cwd), "env": env or {}, "work": str(work)}
        (work / "spec.json").write_text(json.dumps(spec))
        run = subprocess.run(
            ["unshare", "-n", "-m", "--", sys.executable, __file__, str(work / "spec.json")],
            capture_output=True,
            text=True,
            timeout=seconds + 120,
        )
        report = work / "report.json"
        if not report.exists():
            raise RuntimeError(f"the recorder did not report (exit {run.returncode}): {run.stderr[-2000:]}")
        return NetReport(**json.loads(report.read_text()))
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------------------ inside the namespace


def _qname(data: bytes) -> tuple[str, int, int]:
    labels, off = [], 12
    while off < len(data):
        n = data[off]
        if n == 0:
            off += 1
            break
        if n & 0xC0:
            off += 2
            break
        labels.append(data[off + 1 : off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    qtype = struct.unpack("!H", data[off : off + 2])[0] if off + 2 <= len(data) else 0
    return ".".join(labels), qtype, off + 4


def _nxdomain(data: bytes) -> bytes | None:
    if len(data) < 12:
        return None
    _, _, end = _qname(data)
    flags = 0x8000 | (data[2] & 0x79) << 8 | 0x0080 | 3  # a response, opcode and RD copied, RA, NXDOMAIN
    return data[:2] + struct.pack("!HHHHH", flags, 1, 0, 0, 0) + data[12:end]


_TYPES = {1: "A", 28: "AAAA", 5: "CNAME", 33: "SRV", 12: "PTR", 65: "HTTPS", 16: "TXT"}


def _dns_stub(queries: list[dict], t0: float) -> None:
    def log(data: bytes) -> None:
        name, qtype, _ = _qname(data)
        queries.append({"t": round(time.monotonic() - t0, 2), "name": name, "type": _TYPES.get(qtype, str(qtype))})

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 53))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", 53))
    tcp.listen(16)

    def serve_udp() -> None:
        while True:
            data, addr = udp.recvfrom(4096)
            log(data)
            reply = _nxdomain(data)
            if reply:
                udp.sendto(reply, addr)

    def serve_tcp() -> None:
        while True:
            conn, _ = tcp.accept()
            try:
                conn.settimeout(5)
                head = conn.recv(2)
                if len(head) == 2:
                    n, data = struct.unpack("!H", head)[0], b""
                    while len(data) < n:
                        chunk = conn.recv(n - len(data))
                        if not chunk:
                            break
                        data += chunk
                    log(data)
                    reply = _nxdomain(data)
                    if reply:
                        conn.sendall(struct.pack("!H", len(reply)) + reply)
            except OSError:
                pass
            finally:
                conn.close()

    for target in (serve_udp, serve_tcp):
        threading.Thread(target=target, daemon=True).start()


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _inside(spec_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    work = Path(spec["work"])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    resolv = work / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions attempts:1 timeout:1\n")
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    subprocess.run(["mount", "--bind", str(resolv), "/etc/resolv.conf"], check=True)
    hook = work / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_HOOK)
    home, tmp = work / "home", work / "tmp"
    home.mkdir()
    tmp.mkdir()
    audit_log = work / "audit.jsonl"
    env = dict(os.environ)
    env.update(spec["env"])
    env.update(
        HOME=str(home),
        TMPDIR=str(tmp),
        NETRECORD_AUDIT_LOG=str(audit_log),
        PYTHONPATH=os.pathsep.join(p for p in (str(hook), env.get("PYTHONPATH")) if p),
    )
    env.pop("XDG_CACHE_HOME", None)
    t0 = time.monotonic()
    queries: list[dict] = []
    _dns_stub(queries, t0)
    with open(work / "output.txt", "w") as out:
        proc = subprocess.Popen(
            spec["command"], cwd=spec["cwd"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            returncode = proc.wait(timeout=spec["seconds"])
        except subprocess.TimeoutExpired:
            returncode = None
        for sig in (15, 9):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            time.sleep(2)
        proc.wait()
    time.sleep(0.5)
    audit = [json.loads(line) for line in audit_log.read_text().splitlines()] if audit_log.exists() else []
    report = {
        "returncode": returncode,
        "output": (work / "output.txt").read_text(errors="replace")[-20000:],
        "dns": queries,
        "audit": audit,
        "home_files": _files(home),
        "tmp_files": _files(tmp),
    }
    (work / "report.json").write_text(json.dumps(report))


if __name__ == "__main__":
    _inside(Path(sys.argv[1]))
