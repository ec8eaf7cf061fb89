"""Read a kernel log and say what crashed: summary line, function, process, taint, signature.

Pure: it takes the reassembled text (``dmesg.txt``, or a console log) and does no I/O.

A log is cut into *events*. An event starts at a line that reports a crash
(``Kernel panic - not syncing:``, ``BUG:``, ``Oops``/``general protection fault``,
``WARNING:``, a hung task, a lockup, an RCU stall, a machine check, arm's ``Unable to
handle kernel``) and runs until the next one. A few such lines do not start an event,
because the kernel prints them as part of the report above them:

* the ``Oops: ... [#1]`` / ``Internal error: ...`` line after a ``BUG:``, ``kernel BUG
  at`` or ``Unable to handle kernel`` line, while that report has no call trace yet;
* a panic that only says *that* the report above it was fatal: ``Fatal exception``
  (after an oops, with panic_on_oops or in interrupt), ``softlockup: hung tasks``,
  ``hung_task: blocked tasks``, ``Hard LOCKUP``, ``panic_on_warn set``, ``RCU Stall``,
  each only after its own kind of report;
* further ``[Hardware Error]:`` lines of one machine check report.

The analysis describes the **last** event of the text: the crash that ended the log and
made the dump. An oops the kernel survived, followed later by a ``sysrq triggered
crash`` panic, therefore yields the panic. With panic_on_oops the last event is the oops
itself, so the summary is its own ``BUG:``/``Oops``/``general protection fault`` line
rather than the uninformative ``Fatal exception``. A panic that says something
(``sysrq triggered crash``, ``Fatal machine check``, ``Attempted to kill init!``) is an
event of its own, with its own line as the summary.

Function, module, process, pid and call trace come from that event only: the function
from its register dump before its first call trace (``RIP:``, ``EIP:``, ``IP:``,
``pc :``, ``PC is at``, ``NIP``), else from the first frame of that call trace that is
not printing the report or waiting (``dump_stack_lvl``, ``panic``, ``schedule``, ...).
A panic printed without a stack (the usual case after an earlier oops: its taint stops
``panic()`` from dumping one) has none of them, and its signature is named after its
message (``kernel-panic-sysrq_triggered_crash-<hash>``). Kernel release, taint and
hardware come from the event's ``CPU: ... Comm:`` and ``Hardware name:`` lines, else from
the last ones before it in the same boot (taint flags only accumulate, so that is a lower
bound); the release else from ``Linux version``, the hardware else from a line after the
event.

One regular expression pass finds every line of interest; the rest works on that list
and on the one call trace, so the time is linear in the size of the text.
"""

from __future__ import annotations

import re

from pstore_archiver.records import sha256_hash  # not hashlib, which loads OpenSSL: ~3 ms
from pstore_archiver.typing_lite import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

# `<N>`, `[  123.456789]`, then with CONFIG_PRINTK_CALLER `[  T123]` or `[    C1]`.
# (`(?:x|)` is `(?:x)?`, which sre tries more slowly.)
_PREFIX = r"(?:<[0-9]{1,4}>|)(?:\[ *[0-9]{1,12}\.[0-9]{1,9}\]|)(?:\[ *[TC][0-9]{1,10}\]|)"
_LINES = re.compile(rf"\n{_PREFIX}(?P<message>[^\n]*)")  # each line after a "\n"
# Printk records are shorter than this (PRINTKRB_RECORD_MAX); longer lines are cut.
_MAX_LINE = 1024

_PANIC = "Kernel panic - not syncing: "
# x86-64 `RIP: 0010:sym`, old `RIP: 0010:[<a>]  [<a>] sym`, `IP: [<a>] sym`, i386 `EIP: sym`
# and `EIP is at sym`, arm64 `pc : sym`, arm `PC is at sym`, powerpc `NIP [a] sym`.
_IP_START = r"(?:[ER]?IP:?|NIP|e?pc ?:|(?:PC|EIP|RIP) is at) "
# How the message of a line that reports a crash starts; the first kind that fits wins.
_EVENT_STARTS = (
    ("panic", re.escape(_PANIC)),
    ("hung", r"INFO: task .{1,64}?:[0-9]{1,10} (?:blocked|can't die) for more than "),
    ("hardlockup", r"(?:NMI watchdog: |watchdog: |)Watchdog detected hard LOCKUP on cpu"),
    ("softlockup", r"(?:NMI watchdog: |watchdog: |)BUG: soft lockup"),
    ("bug", r"BUG: |kernel BUG at |Unable to handle kernel "),
    # x86 die(): "<what>: %04lx [#%d]", where <what> may end in an address (general
    # protection fault); arm and arm64 __die(): "Internal error: <what>: ..."
    (
        "die",
        r"Internal error: |Oops(?::| - )"
        r"|[a-z][a-z0-9 ,()-]{0,100}(?:0x[0-9a-f]{1,16})?: [0-9a-f]{4} \[#[0-9]{1,10}\]",
    ),
    # __warn(): `WARNING: CPU: 0 PID: 1 at f.c:1 sym`, 3.x `WARNING: at f.c:1 sym()`, newest
    # `WARNING: f.c:1 at sym, CPU#0: x/1`; not boot notes such as `WARNING: Unprivileged eBPF`.
    ("warning", r"WARNING: (?:CPU: |at |[^ ]{1,200}:[0-9]{1,10} at )|UBSAN: \S{1,100} in "),
    ("rcu", r"(?:rcu: |)INFO: rcu_\w{1,32} (?:self-|)detected stall"),
    ("hwerror", r"(?:mce: |\{[0-9]{1,5}\}|)\[Hardware Error\]: "),
)
# How the other lines of interest start.
_DETAIL_STARTS = (
    ("trace", r"(?:Call [Tt]race|Backtrace):[ \t]*\r?$"),
    ("task", r"CPU: |Pid: |Not tainted|Tainted: "),
    ("hardware", r"Hardware name: "),
    ("version", r"Linux version "),
    ("ip", _IP_START),
)
_EVENT_KINDS = frozenset(kind for kind, _ in _EVENT_STARTS)
# A line of interest, searched for in "\n" + text: sre skips from "\n" to "\n" (it would try
# a MULTILINE `^` at every character). The prefix and indentation are matched once (in a
# lookahead: no start of a kind begins with what they match), then the start of a kind,
# which ends in an empty group named after it (a group around the whole start would keep
# sre from ruling out most kinds by their first character).
_LINE = re.compile(
    rf"\n(?=(?P<indent>{_PREFIX}[ \t]*))(?P=indent)(?:"
    + "|".join(f"(?:{start})(?P<{kind}>)" for kind, start in _EVENT_STARTS + _DETAIL_STARTS)
    + ")",
    re.MULTILINE,  # for the `$` of a trace header
)
# Panic messages that only say the report before them was fatal, and that report's kind.
_AFTERMATH = (
    ("Fatal exception", "die"),
    ("softlockup: hung tasks", "softlockup"),
    ("hung_task: blocked tasks", "hung"),
    ("Hard LOCKUP", "hardlockup"),
    ("panic_on_warn set", "warning"),
    ("RCU Stall", "rcu"),
)

# The details of a line, matched where its message starts. Like the other patterns left as
# strings, they are compiled where first used (re.compile caches them): most logs need few.
_HUNG_TASK = r"INFO: task (?P<comm>.{1,64}?):(?P<pid>[0-9]{1,10}) "
# A kernel symbol with its offset and optional module (plus a build id on newer kernels).
_SYMBOL = (
    r"(?P<name>[A-Za-z_.][\w.]*)\+0x[0-9a-f]+(?:/0x[0-9a-f]+)?"
    r"(?: \[(?P<module>[\w-]+)(?: [0-9a-f]+)?\])?"
)
_IP = _IP_START + r" *(?:[0-9a-f]{4}:)?(?:\[<?[0-9a-f]+>?\] +)*" + _SYMBOL
# `CPU: 0 PID: 1 Comm: x Tainted: G   OE  6.1.0 #1`, with `UID:` on newer kernels and
# `Kdump: loaded` on RHEL; old x86 `Pid: 1, comm: x Not tainted 2.6.32 #1`; a hung task's
# `      Not tainted 6.1.0 #1`. RHEL puts `--------- -  -` between the flags and the release.
_TASK = (
    r"(?:CPU: [0-9]{1,10} (?:UID: [0-9]{1,10} )?PID: (?P<pid>[0-9]{1,10}) "
    r"Comm: (?P<comm>.{1,64}?) (?:Kdump: loaded )?"
    r"|Pid: (?P<old_pid>[0-9]{1,10}), comm: (?P<old_comm>.{1,64}?) )?"
    r"(?:Not tainted|Tainted: (?P<flags>[A-Z ]{0,64}[A-Z]))"
    r"(?: +(?:-+ +){0,8}(?P<release>[0-9][^\s#]{0,200}))?"
)
_HARDWARE = r"Hardware name: (?P<hardware>[^\n]{1,1000})"
_VERSION = r"Linux version (?P<release>[^\s(]{1,200})"

# A line of a call trace: what a frame line starts with, stack markers (<TASK>, </IRQ>,
# <NMI>, <#MC>) and, in old formats, its addresses (x86 `[<ffffffff81234567>]`, powerpc
# `[c000000000123456]`); then either no frame (the end of the line, a `? ` guess, a bare
# address, a register dump of an interrupted context, an arm stack dump), or a frame and
# what follows it.
_TRACE_LINE = re.compile(
    r"(?P<markers>(?:</?[A-Z#]{2,10}>[ \t]*|\[<?[0-9a-f]{1,16}>?\] *)*)"
    r"(?:(?P<no_frame>$|\? |0x[0-9a-f]+$|(?:Code|PKRU|[A-Z][A-Z0-9]{1,3}): |Exception stack\("
    rf"|[0-9a-f]{{4}}: )|{_SYMBOL}(?P<rest>.*))?"
)
# arm: `[<a>] (sym) from [<a>] (caller+0x../0x..)`, since 5.x ` sym [mod] from caller+0x..`.
_ARM_FRAME = (
    r"\(?(?P<name>[A-Za-z_.][\w.]*)(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?"
    r"(?: \[(?P<module>[\w-]+)\])?\)? from "
)

# Frames that print the report, or where a task waits, rather than where the bug is.
_BORING = frozenset({
    "dump_stack", "dump_stack_lvl", "__dump_stack", "show_stack", "dump_backtrace",
    "show_trace_log_lvl", "panic", "vpanic", "nmi_panic", "check_panic_on_warn", "printk",
    "_printk", "vprintk", "vprintk_emit", "__warn", "warn_slowpath_common", "warn_slowpath_fmt",
    "warn_slowpath_null", "report_bug", "handle_bug", "exc_invalid_op", "asm_exc_invalid_op",
    "die", "__die", "oops_end", "__schedule", "schedule", "schedule_timeout",
    "schedule_preempt_disabled", "io_schedule", "io_schedule_timeout", "__schedule_bug",
    "__might_resched", "__might_sleep", "___might_sleep", "mutex_lock", "mutex_lock_nested",
    "__mutex_lock", "__mutex_lock_slowpath", "wait_for_completion", "wait_for_common",
    "__wait_for_common", "rwsem_down_read_slowpath", "rwsem_down_write_slowpath",
})  # fmt: skip
_SIGNATURE_FRAMES = 5
# Offsets, hex numbers and addresses, then any other number: what differs between boots.
_VOLATILE = re.compile(
    r"\+0x[0-9a-f]+(?:/0x[0-9a-f]+)?|0x[0-9a-f]+|\b[0-9a-f]{8,}\b"
    r"|\b(?=[a-f]*[0-9])[0-9a-f]+\b|[0-9]+",
    re.IGNORECASE,
)


class Analysis(NamedTuple):
    summary: str | None  # the most telling line, without the `<N>[ time]` prefix
    function: str | None  # faulting function as printed, without +0x offsets
    module: str | None  # the module the function is in (`[labcrash]`), else None
    process: str | None  # `Comm:` of the event, or the hung task
    pid: int | None
    kernel_release: str | None  # e.g. "6.1.0-56-amd64"
    tainted: str | None  # taint flags such as "OE"; None when `Not tainted` or unknown
    hardware: str | None  # `Hardware name:`
    call_trace: tuple[str, ...]  # function names, top first, without `?` entries
    signature: str | None  # `kernel-<name>-<8 hex>` (see `_signature`); None without summary


class _Line(NamedTuple):
    kind: str  # a kind from _EVENT_STARTS or _DETAIL_STARTS
    start: int  # offset of its message (after prefix and indentation) in the text


class _Event:
    """An event being read: mutable while its lines come in."""

    __slots__ = ("first", "has_die", "kind", "trace")

    def __init__(self, first: int, kind: str, has_die: bool = False) -> None:
        self.first = first  # index of its first line in the list of lines
        self.kind = kind
        self.has_die = has_die  # printed its `Oops: ... [#1]` line
        self.trace: int | None = None  # index of its first call trace header


class _Frame(NamedTuple):
    name: str
    module: str | None


# How much of the newest end of a log the crash analysis reads: the crash that ended it is
# at the end (kernel-pstore-format.md §2.3); a whole printk ring is 128 KiB-32 MiB.
ANALYSIS_BYTES = 1 << 20
# The records whose text is the kernel's log: a dump (reassembled) and the console.
KERNEL_LOG_KINDS = ("dmesg", "console")


def analyze_entry(kind: str, text: bytes | None) -> Analysis | None:
    """The crash analysis of an entry's text (the newest ANALYSIS_BYTES of it), or None
    when the entry is not a kernel log."""
    if kind not in KERNEL_LOG_KINDS or text is None:
        return None
    return analyze_log(text[-ANALYSIS_BYTES:].decode("utf-8", errors="replace"))


def strip_prefix(line: str) -> str:
    """Remove the `<N>`, `[  123.456789]` and `[  T123]` prefix and the space after it."""
    prefix = re.compile(_PREFIX).match(line)
    end = prefix.end() if prefix else 0
    if end and line[end : end + 1] == " ":
        end += 1
    return line[end:]


def analyze_log(text: str) -> Analysis:
    """Analyse a kernel log as the module docstring says. Never raises."""
    found = _LINE.finditer("\n" + text)
    lines = [_Line(m.lastgroup, m.end("indent") - 1) for m in found if m.lastgroup]
    event = _last_event(text, lines)
    if event is None:
        release, tainted, hardware = _context(text, lines, [], [])
        return Analysis(None, None, None, None, None, release, tainted, hardware, (), None)
    summary = _message_at(text, lines[event.first].start)
    head = lines[event.first : len(lines) if event.trace is None else event.trace]
    frames = [] if event.trace is None else _read_trace(text, lines[event.trace].start)
    function, module = _faulting_function(text, head, frames)
    process, pid = _process(text, head, summary if event.kind == "hung" else None)
    release, tainted, hardware = _context(text, lines[: event.first], head, lines[event.first :])
    call_trace = tuple(frame.name for frame in frames)
    return Analysis(
        summary=summary,
        function=function,
        module=module,
        process=process,
        pid=pid,
        kernel_release=release,
        tainted=tainted,
        hardware=hardware,
        call_trace=call_trace,
        signature=_signature(summary, function, call_trace),
    )


def _message_at(text: str, start: int) -> str:
    end = text.find("\n", start, start + _MAX_LINE)
    return text[start : end if end >= 0 else start + _MAX_LINE].strip()


def _last_event(text: str, lines: Sequence[_Line]) -> _Event | None:
    event: _Event | None = None
    for index, line in enumerate(lines):
        if line.kind == "trace":
            if event is not None and event.trace is None:
                event.trace = index
        elif line.kind in _EVENT_KINDS:
            if event is not None and _continues(event, line, text):
                event.has_die = event.has_die or line.kind == "die"
            else:
                event = _Event(index, line.kind, has_die=line.kind == "die")
    return event


def _continues(event: _Event, line: _Line, text: str) -> bool:
    """Whether this crash line is part of the event before it (see the module docstring)."""
    if line.kind == "die":
        return event.kind == "bug" and not event.has_die and event.trace is None
    if line.kind == "hwerror":
        return event.kind == "hwerror"
    if line.kind == "panic":
        message = _message_at(text, line.start)
        for fragment, after in _AFTERMATH:
            if fragment in message:
                return event.has_die if after == "die" else event.kind == after
    return False


def _first(text: str, lines: Sequence[_Line], kind: str, pattern: str) -> re.Match[str] | None:
    """The first of these lines of this kind that `pattern` matches where its message starts."""
    return next(_details(text, lines, kind, pattern), None)


def _last(text: str, lines: Sequence[_Line], kind: str, pattern: str) -> re.Match[str] | None:
    return next(_details(text, lines[::-1], kind, pattern), None)


def _details(text: str, lines: Sequence[_Line], kind: str, pattern: str) -> Iterator[re.Match[str]]:
    compiled = re.compile(pattern)  # once a call, not once a line
    for line in lines:
        if line.kind == kind:
            match = compiled.match(text, line.start)
            if match:
                yield match


def _read_trace(text: str, header: int) -> list[_Frame]:
    """The reliable frames of the call trace whose header line is at offset `header`."""
    frames: list[_Frame] = []
    for message in _messages_after(text, header):
        line = _TRACE_LINE.match(message)  # always matches
        if line is None or not message or "</TASK>" in line["markers"]:
            break
        if line["no_frame"] is not None:
            continue
        if line["name"]:
            if "(unreliable)" not in line["rest"]:  # powerpc's `?`
                frames.append(_Frame(line["name"], line["module"]))
            continue
        arm_frame = re.compile(_ARM_FRAME).match(message, line.end("markers"))
        if arm_frame is None:
            break
        frames.append(_Frame(arm_frame["name"], arm_frame["module"]))
    return frames


def _messages_after(text: str, start: int) -> Iterator[str]:
    """The messages of the lines after the one at offset `start`, lazily."""
    end = text.find("\n", start)
    for line in _LINES.finditer(text, end) if end >= 0 else ():
        message = line["message"]
        if line.end() - line.start() > _MAX_LINE:  # cut, maybe in its prefix
            message = strip_prefix(text[line.start() + 1 : line.start() + 1 + _MAX_LINE])
        yield message.strip()


def _faulting_function(
    text: str, head: Sequence[_Line], frames: Sequence[_Frame]
) -> tuple[str | None, str | None]:
    ip = _first(text, head, "ip", _IP)  # user space (`RIP: 0033:0x7f12`) has no symbol
    if ip:
        return ip["name"], ip["module"]
    for frame in frames:
        if _base_name(frame.name) not in _BORING:
            return frame.name, frame.module
    return None, None


def _process(
    text: str, head: Sequence[_Line], hung_summary: str | None
) -> tuple[str | None, int | None]:
    hung = re.match(_HUNG_TASK, hung_summary) if hung_summary else None
    if hung:  # a CPU: line after it is khungtaskd's
        return hung["comm"], int(hung["pid"])
    for task in _details(text, head, "task", _TASK):
        if task["pid"] or task["old_pid"]:
            return task["comm"] or task["old_comm"], int(task["pid"] or task["old_pid"])
    return None, None


def _context(
    text: str, before: Sequence[_Line], head: Sequence[_Line], after: Sequence[_Line]
) -> tuple[str | None, str | None, str | None]:
    """Kernel release, taint flags and hardware: the event's own, else the latest of its boot.

    The hardware does not change within a boot, so it may also come from after the event.
    """
    boots = [index for index, line in enumerate(before) if line.kind == "version"]
    boot = before[boots[-1] :] if boots else before  # from its `Linux version` line
    version = _first(text, boot[:1], "version", _VERSION)
    task = _first(text, head, "task", _TASK) or _last(text, boot, "task", _TASK)
    hardware = (
        _first(text, head, "hardware", _HARDWARE)
        or _last(text, boot, "hardware", _HARDWARE)
        or _first(text, after, "hardware", _HARDWARE)
    )
    release = (task["release"] if task else None) or (version["release"] if version else None)
    return release, _taint_flags(task), hardware["hardware"].strip() if hardware else None


def _taint_flags(task: re.Match[str] | None) -> str | None:
    """`G           OE` -> `OE`: `G` is only the "not proprietary" spelling of `P`."""
    flags = (task["flags"] or "").replace(" ", "").replace("G", "") if task else ""
    return flags or None


def _base_name(function: str) -> str:
    """The function a compiler-made symbol (`.cold`, `.constprop.0`, `.isra.0`) came from:
    up to its first dot but one that starts it."""
    return function[:1] + function[1:].partition(".")[0]


def _normalise(summary: str) -> str:
    return " ".join(_VOLATILE.sub(" ", summary).split())


# PSTORE_SIGNATURE_VERSION (DESIGN §7): raised whenever `_signature` changes what it hashes
# or how it names a crash, so that fleet tools never count one bug under two signatures
# without knowing it. 2: a panic without a function is named after its message.
SIGNATURE_VERSION = "2"
_PANIC_NAME_CHARS = 40  # as ChromeOS's crash reporter bounds the name (other-tools.md)


def _signature(summary: str, function: str | None, call_trace: tuple[str, ...]) -> str:
    """`kernel-<name>-<hash>`: the same for one bug across boots, builds and machines.

    The name is the function without compiler suffixes; for a panic without one (as after
    an oops) `panic-` and its message in lower-case words (`panic-sysrq_triggered_crash`),
    at most 40 characters, cut at a word; else `unknown`. The hash is the first 8 hex
    digits of SHA-256 over the summary without numbers, addresses and offsets, then the
    first five call-trace functions that are not report printing or waiting, all without
    compiler suffixes, one per line.
    """
    names = [name for name in map(_base_name, call_trace) if name not in _BORING]
    material = "\n".join([_normalise(summary), *names[:_SIGNATURE_FRAMES]])
    digest = sha256_hash(material.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    name = _base_name(function) if function else _panic_name(summary) or "unknown"
    return f"kernel-{name}-{digest}"


def _panic_name(summary: str) -> str | None:
    """`Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)` ->
    `panic-vfs_unable_to_mount_root_fs_on_unknown`: the words of the message, without what
    varies."""
    if not summary.startswith(_PANIC):
        return None
    message = _normalise(summary[len(_PANIC) :]).lower()
    words = "_".join("".join(c if "a" <= c <= "z" else " " for c in message).split())
    if len(words) > _PANIC_NAME_CHARS:
        cut = words[: _PANIC_NAME_CHARS + 1]
        words = cut.rpartition("_")[0] or cut[:_PANIC_NAME_CHARS]
    return f"panic-{words}" if words else None
