"""A fleet end to end, with the real engine (issue 10, item 6).

Two machines, each in private namespaces with its own /etc/machine-id, host name, journald,
store of real records and archive, run `pstore-archiver run` and forward their journal with
the real systemd-journal-upload to a real systemd-journal-remote on 127.0.0.1: once over plain
HTTP, once over TLS with a CA, a server certificate and client certificates made here with the
openssl CLI, as a fleet is deployed.  `crashes` and `top` then read the collector's output
directory.  Restarting an upload re-sends the entry at its saved cursor (fleet-facts.md,
"Duplicates"); the collector's file must hold that crash twice and the commands count it once.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest
from journald import read_journal, require_journald, run_with_journald
from stores import copy_fixture

from pstore_archiver.cli import main
from pstore_archiver.journal import MessageId

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
JOURNAL_UPLOAD = "/lib/systemd/systemd-journal-upload"
DUMP_ARCHIVED = f"MESSAGE_ID={MessageId.dump_archived}"
STOP_TIMEOUT = 10


class Machine(NamedTuple):
    hostname: str
    machine_id: str
    capture: str  # tests/data/real/<capture>: the records in its store
    # Node B stores notice and above only (journald's MaxLevelStore): its run summary (info)
    # is not kept, so the last entry its upload sends, and re-sends after a restart, is its
    # panic message.
    journald_settings: str


MACHINES = (
    Machine("node-a", "a1" * 16, "erst-oops-panic", ""),
    Machine("node-b", "b2" * 16, "ramoops-oops-panic", "MaxLevelStore=notice\n"),
)


def require_engine() -> None:
    require_journald()
    for tool in (JOURNAL_REMOTE, JOURNAL_UPLOAD):
        if not os.access(tool, os.X_OK):
            pytest.skip(f"{tool} not found (Debian package systemd-journal-remote)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl not found")


# --- certificates ----------------------------------------------------------------------------


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def make_certificate(directory: Path, name: str, ca: str | None, extensions: str) -> None:
    """`name.key` and `name.pem` in directory: signed by the CA `ca` (its .key and .pem
    there), or self-signed as a CA when ca is None."""
    key, pem = directory / f"{name}.key", directory / f"{name}.pem"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    if ca is None:
        openssl("req", "-x509", *ec, "-keyout", str(key), "-out", str(pem),
                "-days", "2", "-subj", f"/CN={name}")  # fmt: skip
        return
    request, extfile = directory / f"{name}.csr", directory / f"{name}.ext"
    extfile.write_text(extensions)
    openssl("req", *ec, "-keyout", str(key), "-out", str(request), "-subj", f"/CN={name}")
    openssl("x509", "-req", "-in", str(request), "-CA", str(directory / f"{ca}.pem"),
            "-CAkey", str(directory / f"{ca}.key"), "-CAcreateserial", "-days", "2",
            "-out", str(pem), "-extfile", str(extfile))  # fmt: skip


def checks_clients() -> bool:
    """Whether this journal-remote can check client certificates (`--trust`): only a
    systemd built with GnuTLS can; Debian 12's is not (`-GNUTLS`: "Option --trust is not
    available"), so there TLS authenticates the collector to the nodes, not the nodes."""
    version = subprocess.run([JOURNAL_REMOTE, "--version"], capture_output=True, text=True)
    return "+GNUTLS" in version.stdout.split()


def make_certificates(directory: Path) -> Path:
    directory.mkdir()
    make_certificate(directory, "fleet-ca", None, "")
    make_certificate(directory, "stranger-ca", None, "")
    make_certificate(
        directory,
        "collector",
        "fleet-ca",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    for machine in MACHINES:
        make_certificate(directory, machine.hostname, "fleet-ca", "extendedKeyUsage=clientAuth\n")
    return directory


def tls_options(certificates: Path, name: str) -> list[str]:
    return [
        f"--key={certificates / name}.key",
        f"--cert={certificates / name}.pem",
        f"--trust={certificates / 'fleet-ca.pem'}",
    ]


# --- the collector ---------------------------------------------------------------------------


class Collector(NamedTuple):
    url: str
    output: Path  # systemd-journal-remote's output directory (remote-*.journal)
    log: Path


def socket_activated(fd: int, command: list[str]) -> list[str]:
    """command started as systemd starts a socket-activated service: the socket as fd 3,
    LISTEN_FDS=1 and LISTEN_PID its own pid (journal-remote takes `-3` from sd_listen_fds)."""
    launcher = (
        "import os, sys\n"
        f"os.dup2({fd}, 3)\n"
        "os.environ.update(LISTEN_FDS='1', LISTEN_PID=str(os.getpid()))\n"
        "os.execv(sys.argv[1], sys.argv[1:])\n"
    )
    return [sys.executable, "-c", launcher, *command]


@contextmanager
def collector(tmp_path: Path, certificates: Path | None) -> Iterator[Collector]:
    """systemd-journal-remote on a socket bound here to a free port of 127.0.0.1 and
    handed over as socket activation does (`--listen-http=-3`, as Debian's unit), so no
    other test can take the port in between.  Stopped with SIGTERM, which closes its files."""
    output = tmp_path / "remote"
    output.mkdir()
    log = tmp_path / "journal-remote.log"
    scheme = "http" if certificates is None else "https"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        command = [
            JOURNAL_REMOTE,
            f"--listen-{scheme}=-3",
            f"--output={output}/",
            "--split-mode=host",
        ]
        if certificates is not None:
            command += tls_options(certificates, "collector")[: 3 if checks_clients() else 2]
        with open(log, "wb") as log_file:
            process = subprocess.Popen(
                socket_activated(listener.fileno(), command), stdin=subprocess.DEVNULL,
                stdout=log_file, stderr=subprocess.STDOUT, pass_fds=[listener.fileno()],
            )  # fmt: skip
    try:
        yield Collector(f"{scheme}://127.0.0.1:{port}", output, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert process.returncode == 0, log.read_text(errors="replace")


# --- the nodes -------------------------------------------------------------------------------


class Node(NamedTuple):
    journal_file: Path
    state: Path  # journal-upload's --save-state file
    last_crash_id: str  # PSTORE_CRASH_ID of the last crash message in its journal


def upload_command(target: Collector, state: Path, tls: list[str], *source: str) -> list[str]:
    return [JOURNAL_UPLOAD, "-u", target.url, f"--save-state={state}", "--follow=no",
            *tls, *source]  # fmt: skip


def boot_and_forward(tmp_path: Path, machine: Machine, target: Collector, tls: list[str]) -> Node:
    """The machine's boot: `pstore-archiver run` archives its store and logs to its own
    journald; then journal-upload forwards this machine's journal (the default: the local
    system journal) to the collector, once, saving its cursor."""
    root = tmp_path / machine.hostname
    store = copy_fixture(machine.capture, root / "pstore")
    state = root / "upload.state"
    archiver = [sys.executable, "-m", "pstore_archiver"]
    script = " && ".join(
        shlex.join(command)
        for command in (
            [*archiver, "--source", str(store), "--archive", str(root / "archive"), "run"],
            ["journalctl", "--sync"],
            upload_command(target, state, tls),
        )
    )
    result = run_with_journald(
        ["sh", "-c", script],
        tmp_path=root,
        machine_id=machine.machine_id,
        hostname=machine.hostname,
        journald_settings=machine.journald_settings,
    )
    assert result.returncode == 0, result.stderr + target.log.read_text(errors="replace")
    crashes = result.query(DUMP_ARCHIVED)
    assert len(crashes) == 2 and {c["_HOSTNAME"] for c in crashes} == {machine.hostname}
    [journal_file] = result.journal_dir.rglob("*.journal")
    return Node(journal_file, state, crashes[-1]["PSTORE_CRASH_ID"])


def restart_upload(node: Node, target: Collector, tls: list[str]) -> None:
    """journal-upload started again with the same state file: it seeks to the saved
    cursor and sends that entry again."""
    command = upload_command(target, node.state, tls, f"--file={node.journal_file}")
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr


def run_fleet(tmp_path: Path, certificates: Path | None) -> tuple[Path, list[Node]]:
    with collector(tmp_path, certificates) as target:
        nodes = []
        for machine in MACHINES:
            tls = [] if certificates is None else tls_options(certificates, machine.hostname)
            nodes.append(boot_and_forward(tmp_path, machine, target, tls))
        tls = [] if certificates is None else tls_options(certificates, MACHINES[1].hostname)
        restart_upload(nodes[1], target, tls)
        if certificates is not None:
            refused_by_a_node(nodes[1], target, certificates)
    return target.output, nodes


def refused_by_a_node(node: Node, target: Collector, certificates: Path) -> None:
    """A node that trusts another CA refuses the collector: the server certificate is
    checked, so the crashes go to the collector the fleet's CA vouches for."""
    tls = tls_options(certificates, MACHINES[1].hostname)
    tls[-1] = f"--trust={certificates / 'stranger-ca.pem'}"
    command = upload_command(target, node.state, tls, f"--file={node.journal_file}")
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode != 0 and "failed" in result.stderr, result.stderr


# --- what the collector holds, and what crashes and top make of it ----------------------------


def pstore_archiver(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def check_fleet(remote: Path, nodes: Sequence[Node], capsys: pytest.CaptureFixture[str]) -> None:
    resent = read_journal(remote, DUMP_ARCHIVED, f"PSTORE_CRASH_ID={nodes[1].last_crash_id}")
    assert len(resent) == 2, "the restarted upload did not send node-b's panic again"
    assert len(read_journal(remote, DUMP_ARCHIVED)) == 5

    crashes = pstore_archiver(capsys, "crashes", "-D", str(remote))
    assert isinstance(crashes, list)
    assert [(c["hostname"], c["machine_id"], c["entry"], c["kernel_release"]) for c in crashes] == [
        ("node-a", MACHINES[0].machine_id, "20261126T193604Z-erst-oops1", "6.1.0-56-amd64"),
        ("node-a", MACHINES[0].machine_id, "20261126T193604Z-erst-panic2", "6.1.0-56-amd64"),
        ("node-b", MACHINES[1].machine_id, "20261126T194331Z-ramoops-oops1", "6.1.0-56-amd64"),
        ("node-b", MACHINES[1].machine_id, "20261126T194331Z-ramoops-panic2", "6.1.0-56-amd64"),
    ]  # fmt: skip
    assert crashes[-1]["crash_id"] == nodes[1].last_crash_id
    assert (
        pstore_archiver(capsys, "crashes", "-D", str(remote), "--machine", "node-b")
        == (crashes[2:])
    )

    rows = pstore_archiver(capsys, "top", "-D", str(remote))
    assert isinstance(rows, list)
    assert [(r["crashes"], r["machines"], r["kernels"]) for r in rows] == [
        (2, 2, ["6.1.0-56-amd64"]),
        (2, 2, ["6.1.0-56-amd64"]),
    ]
    panic, oops = rows
    assert panic["summary"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert (oops["first_crash"], oops["last_crash"]) == (
        crashes[0]["crash_time"],
        crashes[2]["crash_time"],
    )
    assert (panic["first_crash"], panic["last_crash"]) == (
        crashes[1]["crash_time"],
        crashes[3]["crash_time"],
    )
    assert oops["first_crash"] == "2026-11-26T19:36:04.000000Z"
    assert oops["last_crash"].startswith("2026-11-26T19:43:31")


@pytest.mark.root
def test_two_machines_forward_over_http(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Over plain HTTP the collector names its file by the peer's address: both machines
    (127.0.0.1) share one file, and only the entries' fields tell them apart."""
    require_engine()
    remote, nodes = run_fleet(tmp_path, certificates=None)
    assert sorted(p.name for p in remote.iterdir()) == ["remote-127.0.0.1.journal"]
    check_fleet(remote, nodes, capsys)


@pytest.mark.root
def test_two_machines_forward_over_tls_with_client_certificates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Over TLS the nodes check the collector's certificate against the fleet's CA and
    present their own.  A journal-remote built with GnuTLS checks those too and names each
    file by its certificate (one file per machine); Debian 12's cannot (`checks_clients`)
    and names the file by the peer's address, as over HTTP."""
    require_engine()
    certificates = make_certificates(tmp_path / "certificates")
    remote, nodes = run_fleet(tmp_path, certificates)
    names = sorted(p.name for p in remote.iterdir())
    if checks_clients():
        assert len(names) == 2 and all(m.hostname in n for m, n in zip(MACHINES, names)), names
    else:
        assert names == ["remote-127.0.0.1.journal"]
    check_fleet(remote, nodes, capsys)
