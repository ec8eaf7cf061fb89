"""Read a kernel log and say what crashed: summary line, function, process, taint, signature.

Pure: it takes the reassembled text (``dmesg.txt``) and does no I/O.

A log is cut into *events*. An event starts at a line that reports a crash
(``Kernel panic - not syncing:``, ``BUG:``, ``Oops``/``general protection fault``,
``WARNING:``, a hung task, a lockup, a machine check, arm's ``Unable to handle kernel``)
and runs until the next one. A few lines never start an event of their own, because
the kernel prints them as part of the report above them:

* the ``Oops: ... [#1]`` / ``Internal error: ...`` line after a ``BUG:``/``Unable to
  handle``/``kernel BUG at`` line, while that report has not yet printed its call trace;
* a panic that only says *that* the report above was fatal: ``Fatal exception`` (after an
  oops, with panic_on_oops or in interrupt), ``softlockup: hung tasks``, ``hung_task:
  blocked tasks``, ``Hard LOCKUP``, ``panic_on_warn set``, ``RCU Stall``, each after its
  own kind of report;
* further ``[Hardware Error]:`` lines of one machine check report.

The analysis describes the **last** event of the text: the one that ended the log and made
the dump. An oops the kernel survived, followed later by a ``sysrq triggered crash`` panic,
therefore yields the panic. With panic_on_oops the last event is the oops itself, so the
summary is its own ``BUG:``/``Oops``/``general protection fault`` line, not the
uninformative ``Fatal exception``. An informative panic (``sysrq triggered crash``,
``Fatal machine check``, ``Attempted to kill init!``) is its own event and its own summary.

Function, module, process, pid and call trace come from that event only: from its
register dump before its first call trace (``RIP:``, ``EIP:``, ``IP:``, ``pc :``,
``PC is at``, ``NIP``), else from the first call-trace frame that is not part of printing
the report or of waiting (``dump_stack_lvl``, ``panic``, ``schedule``, ...). A panic the
kernel printed without a stack (the usual case after an earlier oops) has none of them.
Kernel release, taint and hardware come from the event when it has a ``CPU: ... Comm:``
line, else from the last such line before it in the same boot (taint flags only
accumulate, so that is a lower bound), else from ``Linux version``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# printk records are shorter than this (PRINTKRB_RECORD_MAX is 1024); longer lines are
# not kernel output, and cutting them keeps every per-line match cheap.
_MAX_LINE = 1024

# `<N>`, `[  123.456789]`, then with CONFIG_PRINTK_CALLER `[  T123]` or `[    C1]`.
_PREFIX = re.compile(
    r"(?:<[0-9]{1,4}>)?(?:\[ *[0-9]{1,12}\.[0-9]{1,9}\])?(?:\[ *[TC][0-9]{1,10}\])?"
)

_PANIC = "Kernel panic - not syncing: "
_HUNG_TASK = re.compile(
    r"INFO: task (?P<comm>.{1,64}?):(?P<pid>[0-9]{1,10}) (?:blocked|can't die) for more than "
)
# Kinds of lines that start (or, see _joins, continue) an event, tried in this order.
_EVENT_LINES = (
    ("panic", re.compile(re.escape(_PANIC))),
    ("hung", _HUNG_TASK),
    ("hardlockup", re.compile(r"(?:[\w ]{1,24}: )?Watchdog detected hard LOCKUP on cpu")),
    ("softlockup", re.compile(r"(?:[\w ]{1,24}: )?BUG: soft lockup")),
    ("bug", re.compile(r"(?:[\w ]{1,24}: )?BUG: |kernel BUG at |Unable to handle kernel ")),
    # x86 die(): "<what>: %04lx [#%d]"; arm/arm64 __die(): "Internal error: <what>: ..."
    ("die", re.compile(r"Internal error: |Oops(?::| - )|.{1,200}?: [0-9a-f]{4} \[#[0-9]{1,10}\]")),
    ("warning", re.compile(r"WARNING: |UBSAN: ")),
    ("rcu", re.compile(r"(?:rcu: )?INFO: rcu_\w{1,32} (?:self-)?detected stall")),
    ("hwerror", re.compile(r"(?:mce: |\{[0-9]{1,5}\})?\[Hardware Error\]: ")),
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
_TRACE_HEADER = re.compile(r"(?:Call [Tt]race|Backtrace):\s*$")

# A kernel symbol with its offset and optional module (with a build id on newer kernels).
_SYMBOL = (
    r"(?P<name>[A-Za-z_.][\w.]*)\+0x[0-9a-f]+(?:/0x[0-9a-f]+)?"
    r"(?: \[(?P<module>[\w-]+)(?: [0-9a-f]+)?\])?"
)
# Where the CPU was: x86-64 `RIP: 0010:sym`, old `RIP: 0010:[<a>]  [<a>] sym`, `IP: [<a>] sym`,
# i386 `EIP: sym` / `EIP is at sym`, arm64 `pc : sym`, arm `PC is at sym`, powerpc `NIP [a] sym`.
_IP = re.compile(
    r"(?:[ER]?IP:?|NIP|e?pc ?:|(?:PC|EIP|RIP) is at) +(?:(?P<segment>[0-9a-f]{4}):)?"
    r"(?:\[<?[0-9a-f]+>?\] +)*" + _SYMBOL
)
_FRAME = re.compile(r"(?:\[<?[0-9a-f]+>?\] +)*(?P<unsure>\? )?" + _SYMBOL + r"(?P<rest>.*)")
# arm: `[<a>] (sym) from [<a>] (caller+0x../0x..)`, since 5.x ` sym [mod] from caller+0x..`.
_ARM_FRAME = re.compile(
    r"(?:\[<[0-9a-f]+>\] )?\(?(?P<name>[A-Za-z_.][\w.]*)(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?"
    r"(?: \[(?P<module>[\w-]+)\])?\)? from "
)
_STACK_MARKERS = re.compile(r"(?:</?[A-Z#]{2,10}>\s*)+")  # <TASK>, </IRQ>, <NMI>, <#MC>, ...
_REGISTERS = re.compile(r"(?:Code|PKRU|[A-Z][A-Z0-9]{1,3}): |Exception stack\(")
_ADDRESS_ONLY = re.compile(r"0x[0-9a-f]+$")

# `CPU: 0 PID: 1 Comm: x Tainted: G   OE  6.1.0 #1`, with `UID:` on newer kernels and
# `Kdump: loaded` on RHEL; old x86 `Pid: 1, comm: x Not tainted 2.6.32 #1`; a hung task's
# `      Not tainted 6.1.0 #1`. RHEL puts `--------- -  -` between flags and release.
_TASK_LINE = re.compile(
    r"(?:CPU: [0-9]+ (?:UID: [0-9]+ )?PID: (?P<pid>[0-9]{1,10}) Comm: (?P<comm>.{1,64}?) "
    r"(?:Kdump: loaded )?"
    r"|Pid: (?P<old_pid>[0-9]{1,10}), comm: (?P<old_comm>.{1,64}?) )?"
    r"(?:Not tainted|Tainted: (?P<flags>[A-Z ]*[A-Z]))"
    r"(?: +(?:-+ +)*(?P<release>[0-9][^\s#]*))?"
)
_HARDWARE = re.compile(r"Hardware name: (?P<hardware>.+)")
_LINUX_VERSION = re.compile(r"Linux version (?P<release>\S+)")

# Frames that print the report, or where a task waits, rather than where the bug is.
_BORING = frozenset({
    "dump_stack", "dump_stack_lvl", "__dump_stack", "show_stack", "dump_backtrace",
    "show_trace_log_lvl", "panic", "vpanic", "nmi_panic", "check_panic_on_warn",
    "__warn", "warn_slowpath_common", "warn_slowpath_fmt", "warn_slowpath_null",
    "report_bug", "handle_bug", "exc_invalid_op", "asm_exc_invalid_op",
    "die", "__die", "oops_end", "printk", "_printk", "vprintk", "vprintk_emit",
    "__schedule", "schedule", "schedule_timeout", "schedule_preempt_disabled",
    "io_schedule", "io_schedule_timeout", "__schedule_bug",
    "__might_resched", "__might_sleep", "___might_sleep",
    "mutex_lock", "mutex_lock_nested", "__mutex_lock", "__mutex_lock_slowpath",
    "wait_for_completion", "wait_for_common", "__wait_for_common",
    "rwsem_down_read_slowpath", "rwsem_down_write_slowpath",
})
_SIGNATURE_FRAMES = 5
# Offsets, hex numbers and addresses, then any other number: what differs between boots.
_VOLATILE = re.compile(
    r"\+0x[0-9a-f]+(?:/0x[0-9a-f]+)?|0x[0-9a-f]+|\b[0-9a-f]{8,}\b"
    r"|\b(?=[a-f]*[0-9])[0-9a-f]+\b|[0-9]+",
    re.IGNORECASE,
)
_BASE_NAME = re.compile(r"\.?[^.]*")  # `foo.cold`, `foo.constprop.0`, `foo.isra.0` -> `foo`


@dataclass(frozen=True)
class Analysis:
    summary: str | None  # the most telling line, without the `<N>[ time]` prefix
    function: str | None  # faulting function, as printed but without +0x offsets
    module: str | None  # the module the function is in (`[labcrash]`), else None
    process: str | None  # `Comm:` of the event, or the hung task
    pid: int | None
    kernel_release: str | None  # e.g. "6.1.0-56-amd64"
    tainted: str | None  # taint flags such as "OE" (`G`, proprietary's "false", dropped)
    hardware: str | None  # `Hardware name:`
    call_trace: tuple[str, ...]  # function names, top first, without `?` entries
    signature: str | None  # `kernel-<function or unknown>-<8 hex>`; None without summary


@dataclass
class _Event:
    start: int  # index of its first line
    kind: str
    has_die: bool = False  # printed its `Oops: ... [#1]` line
    has_trace: bool = False  # printed a call trace


@dataclass(frozen=True)
class _Frame:
    name: str
    module: str | None


@dataclass(frozen=True)
class _Context:
    kernel_release: str | None = None
    tainted: str | None = None
    hardware: str | None = None


def strip_prefix(line: str) -> str:
    """Remove the `<N>`, `[  123.456789]` and `[  T123]` prefix and the space after it."""
    prefix = _PREFIX.match(line)
    end = prefix.end() if prefix else 0
    if end and line[end : end + 1] == " ":
        end += 1
    return line[end:]


def analyze_log(text: str) -> Analysis:
    """Analyse a kernel log; see the module docstring. Never raises, linear in len(text)."""
    messages = [strip_prefix(line[:_MAX_LINE]).strip() for line in text.splitlines()]
    event = _last_event(messages)
    if event is None:
        context = _context_before(messages, len(messages))
        return Analysis(None, None, None, None, None, context.kernel_release,
                        context.tainted, context.hardware, (), None)
    head, frames = _split_event(messages, event.start)
    summary = messages[event.start]
    function, module = _faulting_function(head, frames)
    process, pid = _process(head, summary if event.kind == "hung" else None)
    context = _event_context(head, _context_before(messages, event.start))
    call_trace = tuple(frame.name for frame in frames)
    return Analysis(
        summary=summary,
        function=function,
        module=module,
        process=process,
        pid=pid,
        kernel_release=context.kernel_release,
        tainted=context.tainted,
        hardware=context.hardware,
        call_trace=call_trace,
        signature=_signature(summary, function, call_trace),
    )


def _classify(message: str) -> str | None:
    for kind, pattern in _EVENT_LINES:
        if pattern.match(message):
            return kind
    return "trace" if _TRACE_HEADER.match(message) else None


def _last_event(messages: list[str]) -> _Event | None:
    event: _Event | None = None
    for index, message in enumerate(messages):
        kind = _classify(message) if message else None
        if kind is None:
            continue
        if event is not None and _joins(event, kind, message):
            event.has_die = event.has_die or kind == "die"
            event.has_trace = event.has_trace or kind == "trace"
        elif kind != "trace":
            event = _Event(index, kind, has_die=kind == "die")
    return event


def _joins(event: _Event, kind: str, message: str) -> bool:
    """Whether a line of this kind belongs to the event before it (module docstring)."""
    if kind == "trace":
        return True
    if kind == "die":
        return event.kind == "bug" and not event.has_die and not event.has_trace
    if kind == "hwerror":
        return event.kind == "hwerror"
    if kind == "panic":
        reason = message[len(_PANIC) :]
        for fragment, after in _AFTERMATH:
            if fragment in reason:
                return event.has_die if after == "die" else event.kind == after
    return False


def _split_event(messages: list[str], start: int) -> tuple[list[str], list[_Frame]]:
    """The event's lines before its first call trace, and that trace's frames."""
    for index in range(start + 1, len(messages)):
        if _TRACE_HEADER.match(messages[index]):
            return messages[start:index], _read_trace(messages, index + 1)
    return messages[start:], []


def _read_trace(messages: list[str], start: int) -> list[_Frame]:
    """(function, module) of each reliable frame, until `</TASK>` or a line that is no frame."""
    frames: list[_Frame] = []
    for message in messages[start:]:
        markers = _STACK_MARKERS.match(message)
        rest = message[markers.end() :] if markers else message
        if not rest:
            if not message or (markers and "</TASK>" in markers.group()):
                break
            continue
        if rest.startswith("? ") or _ADDRESS_ONLY.match(rest) or _REGISTERS.match(rest):
            continue
        frame = _FRAME.match(rest)
        if frame:
            if not frame["unsure"] and "(unreliable)" not in frame["rest"]:  # old x86, powerpc
                frames.append(_Frame(frame["name"], frame["module"]))
            continue
        arm_frame = _ARM_FRAME.match(rest)
        if arm_frame is None:
            break
        frames.append(_Frame(arm_frame["name"], arm_frame["module"]))
    return frames


def _faulting_function(
    head: list[str], frames: list[_Frame]
) -> tuple[str | None, str | None]:
    for message in head:
        ip = _IP.match(message)
        if ip and not (ip["segment"] and int(ip["segment"], 16) & 3 == 3):  # CPL 3: user space
            return ip["name"], ip["module"]
    for frame in frames:
        if _base_name(frame.name) not in _BORING:
            return frame.name, frame.module
    return None, None


def _process(head: list[str], hung_summary: str | None) -> tuple[str | None, int | None]:
    hung = _HUNG_TASK.match(hung_summary) if hung_summary else None
    if hung:
        return hung["comm"], int(hung["pid"])
    for message in head:
        task = _TASK_LINE.match(message)
        if task and (task["pid"] or task["old_pid"]):
            return task["comm"] or task["old_comm"], int(task["pid"] or task["old_pid"])
    return None, None


def _taint_flags(task: re.Match[str]) -> str | None:
    flags = (task["flags"] or "").replace(" ", "").replace("G", "")
    return flags or None


def _event_context(head: list[str], before: _Context) -> _Context:
    """Release, taint and hardware from the event's own lines, else from `before` it."""
    task = next((m for m in map(_TASK_LINE.match, head) if m), None)
    hardware = next((m["hardware"] for m in map(_HARDWARE.match, head) if m), None)
    return _Context(
        kernel_release=(task and task["release"]) or before.kernel_release,
        tainted=_taint_flags(task) if task else before.tainted,
        hardware=hardware or before.hardware,
    )


def _context_before(messages: list[str], end: int) -> _Context:
    """The latest release, taint and hardware before `end`, within the same boot."""
    release: str | None = None
    tainted: str | None = None
    hardware: str | None = None
    task_seen = False
    for index in range(end - 1, -1, -1):
        message = messages[index]
        task = None if task_seen else _TASK_LINE.match(message)
        if task:
            task_seen = True
            release = release or task["release"]
            tainted = _taint_flags(task)
        hardware_line = None if hardware else _HARDWARE.match(message)
        if hardware_line:
            hardware = hardware_line["hardware"]
        version = _LINUX_VERSION.match(message)
        if version:  # the start of this boot
            release = release or version["release"]
            break
        if task_seen and hardware:
            break
    return _Context(release, tainted, hardware)


def _base_name(function: str) -> str:
    """The function a compiler-made symbol (`.cold`, `.constprop.0`, `.isra.0`) came from."""
    base = _BASE_NAME.match(function)
    return base.group() if base else function


def _normalise(summary: str) -> str:
    return " ".join(_VOLATILE.sub(" ", summary).split())


def _signature(summary: str, function: str | None, call_trace: tuple[str, ...]) -> str:
    """`kernel-<function>-<hash>`: the same for one bug across boots, builds and machines.

    The hash is the first 8 hex digits of SHA-256 over the summary without numbers,
    addresses and offsets, and the first five call-trace functions that are not report
    printing or waiting, all with compiler suffixes removed, joined by newlines.
    """
    names = [name for name in map(_base_name, call_trace) if name not in _BORING]
    material = "\n".join([_normalise(summary), *names[:_SIGNATURE_FRAMES]])
    digest = hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"kernel-{_base_name(function) if function else 'unknown'}-{digest}"
