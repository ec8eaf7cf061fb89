"""analysis: real crash logs from QEMU guests, hand-written logs per format, and properties.

The real logs are the captures in `tests/data/real/`, reassembled here on their own
(bodies of PartN ... Part1 without the header line). The hand-written ones in
`tests/data/oops/` follow the formats of the kernels named in their file names.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pstore_archiver.analysis import Analysis, analyze_log, strip_prefix

REAL = Path(__file__).resolve().parent / "data" / "real"
OOPS = Path(__file__).resolve().parent / "data" / "oops"
HEADER = re.compile(r"([A-Za-z]+#[0-9]+) Part([0-9]+)")
SIGNATURE = re.compile(
    r"kernel-(?:panic-(?P<panic>[a-z]+(?:_[a-z]+)*)|[A-Za-z_.][\w.]*)-[0-9a-f]{8}"
)
NAME = re.compile(r"[A-Za-z_.][\w.]*")


def reassemble(case: str) -> dict[str, str]:
    """The dumps of a real fixture, e.g. {"Panic#2": text}: bodies of PartN ... Part1."""
    parts: dict[str, dict[int, str]] = {}
    for path in (REAL / case).glob("dmesg-*"):
        header, _, body = path.read_text(encoding="utf-8", errors="replace").partition("\n")
        match = HEADER.fullmatch(header)
        assert match, f"{path}: header {header!r}"
        parts.setdefault(match[1], {})[int(match[2])] = body
    return {dump: "".join(p[n] for n in sorted(p, reverse=True)) for dump, p in parts.items()}


def load(key: str) -> str:
    """`real/<fixture>/<dump>` or `oops/<name>`."""
    source, _, rest = key.partition("/")
    if source == "real":
        case, _, dump = rest.partition("/")
        return reassemble(case)[dump]
    return (OOPS / f"{rest}.txt").read_text(encoding="utf-8")


def known(
    summary: str,
    function: str | None,
    module: str | None,
    process: str | None,
    pid: int | None,
    release: str | None,
    tainted: str | None,
    hardware: str | None,
    trace: tuple[str, ...],
) -> Analysis:
    return Analysis(
        summary, function, module, process, pid, release, tainted, hardware, trace, None
    )


DEBIAN = "6.1.0-56-amd64"
QEMU = "QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014"
OVMF = "QEMU Standard PC (i440FX + PIIX, 1996), BIOS 0.0.0 02/06/2015"
SYSRQ = "Kernel panic - not syncing: sysrq triggered crash"
SYSRQ_TRACE = (
    "dump_stack_lvl", "panic", "sysrq_handle_crash", "__handle_sysrq.cold", "write_sysrq_trigger",
    "proc_reg_write", "vfs_write", "ksys_write", "do_syscall_64", "entry_SYSCALL_64_after_hwframe",
)  # fmt: skip
NULL_WRITE = "BUG: kernel NULL pointer dereference, address: 0000000000000000"
INITCALL_TRACE = (
    "do_one_initcall", "do_init_module", "__do_sys_finit_module", "do_syscall_64",
    "entry_SYSCALL_64_after_hwframe",
)  # fmt: skip

# What each known log must yield (the signature is checked on its own below).
EXPECTED = {
    # sysrq-c in a clean kernel: panic() dumps the stack, sysrq_handle_crash is below it.
    "real/erst-panic/Panic#1": known(
        SYSRQ, "sysrq_handle_crash", None, "init", 1, DEBIAN, None, QEMU, SYSRQ_TRACE
    ),
    "real/ramoops-panic/Panic#1": known(
        SYSRQ, "sysrq_handle_crash", None, "init", 1, DEBIAN, None, QEMU, SYSRQ_TRACE
    ),
    "real/efi-panic/Panic#1": known(  # the trace spans parts 2 and 1 of 15
        SYSRQ, "sysrq_handle_crash", None, "init", 1, DEBIAN, None, OVMF, SYSRQ_TRACE
    ),
    # A NULL write in a module's init (panic_on_oops=0): the kernel survives it.
    "real/erst-oops-panic/Oops#1": known(
        NULL_WRITE, "labcrash_init", "labcrash", "insmod", 186, DEBIAN, "OE", QEMU, INITCALL_TRACE
    ),
    "real/ramoops-oops-panic/Oops#1": known(
        NULL_WRITE, "labcrash_init", "labcrash", "insmod", 216, DEBIAN, "OE", QEMU, INITCALL_TRACE
    ),
    # ... then sysrq-c in the same boot: the last event is the panic, which the taint of the
    # oops kept from dumping a stack, so there is no function; the taint is the oops's.
    "real/erst-oops-panic/Panic#2": known(SYSRQ, None, None, None, None, DEBIAN, "OE", QEMU, ()),
    "real/ramoops-oops-panic/Panic#2": known(SYSRQ, None, None, None, None, DEBIAN, "OE", QEMU, ()),
    "oops/x86_64-gpf-panic-on-oops": known(
        "general protection fault, probably for non-canonical address 0xdead000000000122: "
        "0000 [#1] PREEMPT SMP NOPTI",
        "__list_del_entry_valid", None, "kworker/7:2", 31337, DEBIAN, "O",
        "Dell Inc. PowerEdge R640/0W23H8, BIOS 2.19.1 06/06/2023",
        ("foo_gc_work", "process_one_work", "worker_thread", "kthread", "ret_from_fork"),
    ),
    "oops/x86_64-bug-at-in-interrupt": known(
        "kernel BUG at net/core/skbuff.c:4423!",
        "skb_segment", None, "swapper/0", 0, DEBIAN, None,
        "Red Hat KVM/RHEL, BIOS 1.16.1-1.el9 04/01/2014",
        ("tcp_gso_segment", "inet_gso_segment", "skb_mac_gso_segment", "__skb_gso_segment",
         "validate_xmit_skb", "validate_xmit_skb_list", "sch_direct_xmit", "__dev_queue_xmit",
         "asm_sysvec_apic_timer_interrupt", "default_idle_call", "do_idle", "cpu_startup_entry",
         "rest_init"),
    ),
    "oops/x86_64-warning": known(
        "WARNING: CPU: 2 PID: 1234 at drivers/gpu/drm/foo/foo_drv.c:812 "
        "foo_atomic_commit_tail+0x2f1/0x350 [foo]",
        "foo_atomic_commit_tail", "foo", "Xorg", 1234, DEBIAN, "E",
        "LENOVO 20XW0026GE/20XW0026GE, BIOS N32ET86W (1.62 ) 12/19/2022",
        ("commit_tail", "drm_atomic_helper_commit", "drm_atomic_commit", "drm_mode_atomic_ioctl",
         "drm_ioctl_kernel", "drm_ioctl", "__x64_sys_ioctl", "do_syscall_64",
         "entry_SYSCALL_64_after_hwframe"),
    ),
    "oops/x86_64-soft-lockup-panic": known(  # the lockup added its L taint after this report
        "watchdog: BUG: soft lockup - CPU#3 stuck for 26s! [spin_test:2048]",
        "spinmod_write", "spinmod", "spin_test", 2048, DEBIAN, "OE",
        "QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014",
        ("proc_reg_write", "vfs_write", "ksys_write", "do_syscall_64",
         "entry_SYSCALL_64_after_hwframe"),
    ),
    "oops/x86_64-hung-task-panic": known(  # the task, not khungtaskd which panicked
        "INFO: task fsstress:1502 blocked for more than 120 seconds.",
        "ext4_buffered_write_iter", "ext4", "fsstress", 1502, DEBIAN, "W",
        "Red Hat KVM/RHEL, BIOS 1.16.1-1.el9 04/01/2014",
        ("__schedule", "schedule", "schedule_preempt_disabled", "__mutex_lock.constprop.0",
         "ext4_buffered_write_iter", "vfs_write", "ksys_write", "do_syscall_64",
         "entry_SYSCALL_64_after_hwframe"),
    ),
    "oops/x86_64-hard-lockup-panic": known(
        "NMI watchdog: Watchdog detected hard LOCKUP on cpu 1",
        "hardlock_init", "hardlock", "insmod", 1800, DEBIAN, "OE",
        "Supermicro SYS-1029P-WTR/X11DDW-L, BIOS 3.4 10/25/2020",
        INITCALL_TRACE,
    ),
    "oops/x86_64-mce-panic": known(  # the RIP inside the trace is the interrupted context's
        "Kernel panic - not syncing: Fatal machine check",
        "mce_panic.cold", None, "swapper/2", 0, DEBIAN, "M",
        "Dell Inc. PowerEdge R740/08D89F, BIOS 2.12.2 07/09/2021",
        ("dump_stack_lvl", "panic", "mce_panic.cold", "do_machine_check", "exc_machine_check",
         "asm_exc_machine_check", "default_idle", "default_idle_call", "do_idle",
         "cpu_startup_entry", "start_secondary", "secondary_startup_64_no_verify"),
    ),
    "oops/x86_64-scheduling-while-atomic": known(
        "BUG: scheduling while atomic: kworker/0:1/42/0x00000002",
        "foo_work", "foo", "kworker/0:1", 42, DEBIAN, "O", QEMU,
        ("dump_stack_lvl", "__schedule_bug.cold", "__schedule", "schedule", "schedule_timeout",
         "foo_work", "process_one_work", "worker_thread", "kthread", "ret_from_fork"),
    ),
    "oops/x86_64-3.10-old-format": known(  # RHEL 7: `Kdump: loaded`, `------------` in the taint
        "BUG: unable to handle kernel NULL pointer dereference at 0000000000000008",
        "foo_release", "foo", "foo-daemon", 24680, "3.10.0-1160.el7.x86_64", "OE",
        "HP ProLiant DL380 Gen9/ProLiant DL380 Gen9, BIOS P89 10/21/2019",
        ("__fput", "____fput", "task_work_run", "do_notify_resume", "int_signal"),
    ),
    "oops/arm64-null-deref-panic": known(
        "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000",
        "labcrash_init", "labcrash", "insmod", 186, "6.1.0-56-arm64", "OE", "linux,dummy-virt (DT)",
        ("labcrash_init", "do_one_initcall", "do_init_module", "load_module",
         "__do_sys_finit_module", "__arm64_sys_finit_module", "invoke_syscall",
         "el0_svc_common.constprop.0", "do_el0_svc", "el0_svc", "el0t_64_sync_handler",
         "el0t_64_sync"),
    ),
    "oops/i386-null-deref": known(
        "BUG: kernel NULL pointer dereference, address: 00000000",
        "labcrash_init", "labcrash", "insmod", 412, "6.1.0-56-686-pae", "OE", QEMU,
        ("do_one_initcall", "do_init_module", "load_module", "__ia32_sys_finit_module",
         "__do_fast_syscall_32", "do_fast_syscall_32", "do_SYSENTER_32", "entry_SYSENTER_32"),
    ),
    "oops/i386-3.2-old-format": known(  # `IP: [<a>] sym`; every frame is a `?` guess
        "BUG: unable to handle kernel NULL pointer dereference at   (null)",
        "labcrash_init", "labcrash", "insmod", 2001, "3.2.0-4-686-pae", "PO", None,
        (),
    ),
    "oops/ppc64le-null-deref": known(  # `NIP [a] sym`; a frame marked `(unreliable)`
        "BUG: Kernel NULL pointer dereference on write at 0x00000000",
        "labcrash_init", "labcrash", "insmod", 1900, "6.1.0-56-powerpc64le", "OE",
        "IBM pSeries (emulated by qemu) POWER9 (raw) 0x4e1202 0xf000005 of:SLOF,HEAD pSeries",
        ("do_init_module", "__do_sys_finit_module", "system_call_exception",
         "system_call_vectored_common"),
    ),
    "oops/arm-4.9-pc-is-at": known(  # the unwinder printed its frames without a header
        "Unable to handle kernel NULL pointer dereference at virtual address 00000000",
        "labcrash_init", "labcrash", "insmod", 977, "4.9.0-6-armmp", "O", "Generic DT based system",
        (),
    ),
    "oops/arm-6.1-call-trace": known(
        "Unable to handle kernel NULL pointer dereference at virtual address 00000000 when write",
        "labcrash_init", "labcrash", "insmod", 101, "6.1.0-56-armmp", "O",
        "Generic DT based system",
        ("labcrash_init", "do_one_initcall", "do_init_module", "sys_finit_module"),
    ),
}  # fmt: skip

# Logs of one bug; every other known log is a bug of its own.
SAME_BUG = {
    "real/erst-panic/Panic#1": "sysrq",
    "real/ramoops-panic/Panic#1": "sysrq",
    "real/efi-panic/Panic#1": "sysrq",
    "real/erst-oops-panic/Oops#1": "labcrash",
    "real/ramoops-oops-panic/Oops#1": "labcrash",
    "real/erst-oops-panic/Panic#2": "sysrq without a stack",
    "real/ramoops-oops-panic/Panic#2": "sysrq without a stack",
}


def test_every_hand_written_log_is_checked() -> None:
    assert {f"oops/{path.stem}" for path in OOPS.glob("*.txt")} <= set(EXPECTED)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_known_logs(key: str) -> None:
    assert analyze_log(load(key))._replace(signature=None) == EXPECTED[key]


@pytest.mark.parametrize("key", sorted(k for k in EXPECTED if EXPECTED[k].function))
def test_signature_names_the_function(key: str) -> None:
    result = analyze_log(load(key))
    base = (result.function or "").split(".")[0]  # `mce_panic.cold` -> `mce_panic`
    assert result.signature is not None
    assert SIGNATURE.fullmatch(result.signature)
    assert result.signature.startswith(f"kernel-{base}-")


def test_a_panic_without_a_stack_is_named_after_its_message_on_every_backend() -> None:
    """After the oops, sysrq-c panics without a stack (TAINT_DIE): erst and ramoops alike."""
    assert [
        analyze_log(load(f"real/{case}/Panic#2")).signature
        for case in ("erst-oops-panic", "ramoops-oops-panic")
    ] == ["kernel-panic-sysrq_triggered_crash-ce01363d"] * 2


def test_same_bug_same_signature_different_bugs_different_signatures() -> None:
    signatures = {key: analyze_log(load(key)).signature for key in EXPECTED}
    for a in EXPECTED:
        for b in EXPECTED:
            same_bug = a == b or (a in SAME_BUG and SAME_BUG.get(a) == SAME_BUG.get(b))
            assert (signatures[a] == signatures[b]) == same_bug, (a, b)


def perturb(text: str) -> str:
    """The same crash on another boot, build and machine: other times, addresses, offsets,
    pids, CPU numbers, die counter and timeouts."""
    rotate = str.maketrans("0123456789abcdef", "3456789abcdef012")
    pid = r"(PID: |[Pp]id: ?|task [^ :]+:|\[[\w/:-]+:|\w\[)([0-9]+)"
    rules: list[tuple[str, Callable[[re.Match[str]], str]]] = [
        (r"\[ *([0-9]+)\.([0-9]{6})\]", lambda m: f"[{int(m[1]) + 3600:5d}.{m[2][::-1]}]"),
        (r"\+0x([0-9a-f]+)/0x([0-9a-f]+)", lambda m: f"+0x{m[1]}4/0x{m[2]}0"),
        (r"\b0x[0-9a-f]+\b|\b[0-9a-f]{8,16}\b", lambda m: m[0][:2] + m[0][2:].translate(rotate)),
        (pid, lambda m: f"{m[1]}{int(m[2]) + 4321}"),
        (r"(CPU[:#]? ?|cpu )([0-9]+)", lambda m: f"{m[1]}{(int(m[2]) + 5) % 8}"),
        (r"(\[#|stuck for |more than )([0-9]+)", lambda m: f"{m[1]}{int(m[2]) * 2}"),
    ]
    for pattern, replacement in rules:
        text = re.sub(pattern, replacement, text)
    return text


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_signature_ignores_what_changes_between_boots(key: str) -> None:
    text = load(key)
    other = perturb(text)
    assert other != text
    assert analyze_log(other).signature == analyze_log(text).signature


def test_panic_on_oops_keeps_the_oops_and_its_signature() -> None:
    oops = load("real/erst-oops-panic/Oops#1")
    fatal = oops + "<0>[    4.998120] Kernel panic - not syncing: Fatal exception\n"
    assert analyze_log(fatal) == analyze_log(oops)


OOPS_THEN = "<1>[ 1.0] BUG: kernel NULL pointer dereference, address: 0000000000000008\n" \
    "<4>[ 1.0] Oops: 0000 [#1] PREEMPT SMP NOPTI\n<4>[ 1.0] RIP: 0010:f+0x1/0x2\n"  # fmt: skip


@pytest.mark.parametrize(
    "text, summary",
    [
        # the last event wins: a later warning, a later panic of its own
        (OOPS_THEN + "<4>[ 2.0] WARNING: CPU: 0 PID: 1 at a.c:1 g+0x1/0x2\n",
         "WARNING: CPU: 0 PID: 1 at a.c:1 g+0x1/0x2"),
        (OOPS_THEN + "<0>[ 2.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x9\n",
         "Kernel panic - not syncing: Attempted to kill init! exitcode=0x9"),
        # `Fatal exception` belongs to an oops only; alone, it is all there is to say
        ("<0>[ 2.0] Kernel panic - not syncing: Fatal exception\n",
         "Kernel panic - not syncing: Fatal exception"),
        ("<4>[ 1.0] WARNING: CPU: 0 PID: 1 at a.c:1 g+0x1/0x2\n"
         "<0>[ 2.0] Kernel panic - not syncing: Fatal exception\n",
         "Kernel panic - not syncing: Fatal exception"),
        ("<4>[ 1.0] WARNING: CPU: 0 PID: 1 at a.c:1 g+0x1/0x2\n"
         "<0>[ 2.0] Kernel panic - not syncing: kernel: panic_on_warn set ...\n",
         "WARNING: CPU: 0 PID: 1 at a.c:1 g+0x1/0x2"),
        # an Oops line joins the BUG line before it only until that report has its trace
        ("<3>[ 1.0] BUG: scheduling while atomic: a/1/0x00000002\n<4>[ 1.0] Call Trace:\n"
         "<4>[ 1.0]  f+0x1/0x2\n<4>[ 2.0] Oops: 0002 [#1] SMP\n", "Oops: 0002 [#1] SMP"),
        ("<1>[ 1.0] BUG: unable to handle page fault for address: ffffa0\n"
         "<1>[ 1.0] #PF: supervisor read access in kernel mode\n<4>[ 1.0] Oops: 0000 [#1] SMP\n",
         "BUG: unable to handle page fault for address: ffffa0"),
        # one machine check report is one event, and the panic it causes is another
        ("<0>[ 1.0] mce: [Hardware Error]: CPU 0: Machine Check Exception: 5 Bank 1: b2\n"
         "<0>[ 1.0] mce: [Hardware Error]: Machine check: Processor context corrupt\n",
         "mce: [Hardware Error]: CPU 0: Machine Check Exception: 5 Bank 1: b2"),
        ("<4>[ 1.0] rcu: INFO: rcu_preempt self-detected stall on CPU\n"
         "<0>[ 2.0] Kernel panic - not syncing: RCU Stall\n",
         "rcu: INFO: rcu_preempt self-detected stall on CPU"),
        ("<0>[ 1.0] UBSAN: array-index-out-of-bounds in drivers/a.c:12:3\n",
         "UBSAN: array-index-out-of-bounds in drivers/a.c:12:3"),
        # lockups as older and newer kernels print them, with or without a panic after them
        ("<0>[ 1.0] Kernel panic - not syncing: Watchdog detected hard LOCKUP on cpu 2\n",
         "Kernel panic - not syncing: Watchdog detected hard LOCKUP on cpu 2"),
        ("<0>[ 1.0] watchdog: Watchdog detected hard LOCKUP on cpu 1\n"
         "<0>[ 2.0] Kernel panic - not syncing: Hard LOCKUP\n",
         "watchdog: Watchdog detected hard LOCKUP on cpu 1"),
        ("<0>[ 1.0] BUG: soft lockup - CPU#0 stuck for 22s! [a:1]\n"
         "<0>[ 2.0] Kernel panic - not syncing: softlockup: hung tasks\n",
         "BUG: soft lockup - CPU#0 stuck for 22s! [a:1]"),
    ],
)  # fmt: skip
def test_which_event_ended_the_log(text: str, summary: str) -> None:
    assert analyze_log(text).summary == summary


@pytest.mark.parametrize(
    "line",
    [
        "---[ end Kernel panic - not syncing: Fatal exception ]---",
        "WARNING: Unprivileged eBPF is enabled with eIBRS on, data leaks possible via Spectre v2",
        "traps: a.out[1234] general protection fault ip:401126 sp:7ffc error:0 in a.out[401000+7]",
        "a.out[1234]: segfault at 0 ip 0000000000401126 sp 00007ffc error 6 in a.out[401000+1000]",
        "systemd[1]: BUG: this is user space",
        "LABMARK Kernel panic - not syncing: quoted",
        "Call Trace:",
        "CPU: 0 PID: 1 Comm: init Not tainted 6.1.0-56-amd64 #1",
    ],
)
def test_lines_that_report_no_crash(line: str) -> None:
    result = analyze_log(f"<4>[    1.000000] {line}\n")
    assert (result.summary, result.signature, result.function) == (None, None, None)


def test_a_log_without_a_crash_still_says_which_kernel() -> None:
    boot = load("real/erst-oops-panic/Panic#2").split("LABMARK")[0]  # up to the first marker
    assert analyze_log(boot) == Analysis(None, None, None, None, None, DEBIAN, None, None, (), None)
    assert analyze_log("") == Analysis(None, None, None, None, None, None, None, None, (), None)


def test_taint_of_an_earlier_boot_is_not_used() -> None:
    earlier = "<4>[ 9.0] CPU: 0 PID: 1 Comm: a Tainted: G      D         6.1.0-1 #1\n"
    panic = "<0>[ 5.0] Kernel panic - not syncing: VFS: Unable to mount root fs\n"
    assert analyze_log(earlier + panic).tainted == "D"
    reboot = "<5>[ 0.0] Linux version 6.1.0-2 (x@y) #1 SMP\n"
    result = analyze_log(earlier + reboot + panic)
    assert (result.tainted, result.kernel_release) == (None, "6.1.0-2")


def test_newer_task_line_and_build_ids() -> None:
    text = (
        "<4>[ 1.0] Oops: general protection fault, probably for non-canonical address "
        "0xdffffc0000000001: 0000 [#1] PREEMPT SMP KASAN NOPTI\n"
        "<4>[ 1.0] CPU: 3 UID: 0 PID: 77 Comm: kworker/u8:1 Not tainted 6.12.9-amd64 #1\n"
        "<4>[ 1.0] Tainted: [W]=WARN, [O]=OOT_MODULE\n"
        "<4>[ 1.0] RIP: 0010:bar_fn+0x10/0x20 [bar 0123456789abcdef0123456789abcdef01234567]\n"
    )
    result = analyze_log(text)
    assert (result.function, result.module, result.process, result.pid) == (
        "bar_fn", "bar", "kworker/u8:1", 77
    )  # fmt: skip
    assert (result.kernel_release, result.tainted) == ("6.12.9-amd64", None)


PREFIX = re.compile(r"<[0-9]>\[ *([0-9.]+)\] ")


@pytest.mark.parametrize(
    "style",
    [
        lambda m: f"{m[0][:-1]}[ T31337] ",  # CONFIG_PRINTK_CALLER
        lambda m: f"{m[0][:-1]}[    C7] ",
        lambda m: f"[{m[1]:>12}] ",  # a console log: no syslog level
        lambda m: "",  # printk.time=0 and no level
    ],
)
def test_prefix_styles_give_the_same_analysis(style: Callable[[re.Match[str]], str]) -> None:
    text = load("oops/x86_64-gpf-panic-on-oops")
    restyled = PREFIX.sub(style, text)
    assert restyled != text
    assert analyze_log(restyled) == analyze_log(text)


@pytest.mark.parametrize(
    "line, message",
    [
        ("<4>[    4.997936] RIP: 0010:init+0x33/0x1000", "RIP: 0010:init+0x33/0x1000"),
        ("<4>[    4.997936]  <TASK>", " <TASK>"),
        ("<13>[    5.046357] LABMARK boot1", "LABMARK boot1"),
        ("<6>[    1.000000][    T1] Run /init", "Run /init"),
        ("<6>[12345.000001][   C12] x", "x"),
        ("[    1.000000] console line", "console line"),
        ("<4>bare level", "bare level"),
        ("no prefix", "no prefix"),
        ("  indented", "  indented"),
        ("[pstore-archiver: Part 3 missing]", "[pstore-archiver: Part 3 missing]"),
        ("", ""),
    ],
)  # fmt: skip
def test_strip_prefix(line: str, message: str) -> None:
    assert strip_prefix(line) == message


@pytest.mark.parametrize(
    "lines, trace",
    [
        # x86: markers, `?` guesses and the interrupted context's registers are skipped;
        # a bare address is a frame without a name; `</TASK>` ends the trace
        ([" <IRQ>", " f+0x1/0x2", " ? g+0x1/0x2", " </IRQ>", " <TASK>", " 0xffffffffc0a00000",
          "RIP: 0010:idle+0x1/0x2", "Code: 0f 0b", "RSP: 0018:ffffb1e9c0003950 EFLAGS: 00000246",
          " h+0x1/0x2 [m]", " </TASK>", " after+0x1/0x2"], ("f", "h")),
        # old x86 and i386: addresses first, `?` after them
        (["<IRQ>  [<ffffffff81000001>] f+0x1/0x2", " [<ffffffff81000002>] ? g+0x1/0x2",
          "<EOI>  [<ffffffff81000003>] h+0x1/0x2"], ("f", "h")),
        # arm: `from` lines; an exception stack dump between frames
        (["[<c0101d60>] (f [m]) from [<c0301d60>] (g+0x50/0x1a0)", " g from __irq_svc+0x88/0xb0",
          "Exception stack(0xc1601f10 to 0xc1601f58)", "1f00:          00000001 c1601f64",
          " __irq_svc from h+0x38/0x3c"], ("f", "g", "__irq_svc")),
        # a line that is no frame ends the trace; so does an empty one
        ([" f+0x1/0x2", "Modules linked in: m", " g+0x1/0x2"], ("f",)),
        ([" f+0x1/0x2", "", " g+0x1/0x2"], ("f",)),
    ],
)  # fmt: skip
def test_call_trace_lines(lines: list[str], trace: tuple[str, ...]) -> None:
    text = "\n".join(
        ["<1>[ 1.0] BUG: a", "<4>[ 1.0] Call Trace:", *(f"<4>[ 1.0] {x}" for x in lines)]
    )
    assert analyze_log(text).call_trace == trace


def signature(summary: str, trace: list[str]) -> str | None:
    lines = [f"<1>[ 1.0] {summary}", "<4>[ 1.0] Call Trace:", *(f"<4>[ 1.0]  {f}" for f in trace)]
    return analyze_log("\n".join(lines)).signature


def test_signature_parts() -> None:
    base = signature("BUG: a", ["f+0x1/0x2", "g+0x1/0x2"])
    assert base is not None and base.startswith("kernel-f-")
    # compiler clones and report-printing frames do not count
    assert signature("BUG: a", ["f.cold+0x9/0x9", "g.constprop.0+0x1/0x3"]) == base
    assert signature("BUG: a", ["dump_stack_lvl+0x1/0x2", "f+0x1/0x2", "g+0x1/0x2"]) == base
    # the summary and the functions do
    assert signature("BUG: b", ["f+0x1/0x2", "g+0x1/0x2"]) != base
    assert signature("BUG: a", ["f+0x1/0x2", "h+0x1/0x2"]) != base
    # the first five frames only
    six = [f"f{i}+0x1/0x2" for i in range(6)]
    assert signature("BUG: a", six) == signature("BUG: a", [*six[:5], "x+0x1/0x2"])
    assert signature("BUG: a", six) != signature("BUG: a", [*six[:4], "x+0x1/0x2", six[5]])
    assert (signature("BUG: a", []) or "").startswith("kernel-unknown-")


@pytest.mark.parametrize(
    "message, name",
    [
        ("sysrq triggered crash", "panic-sysrq_triggered_crash"),
        ("Fatal exception in interrupt", "panic-fatal_exception_in_interrupt"),
        # numbers and addresses are not part of the name; 40 characters, cut at a word
        ("Attempted to kill init! exitcode=0x0000000b", "panic-attempted_to_kill_init_exitcode"),
        ("VFS: Unable to mount root fs on unknown-block(0,0)",
         "panic-vfs_unable_to_mount_root_fs_on_unknown"),
        ("Watchdog detected hard LOCKUP on cpu 2", "panic-watchdog_detected_hard_lockup_on_cpu"),
        ("x" * 50, "panic-" + "x" * 40),
        ("12 0x1f ffffffffc0a00000", "unknown"),  # nothing that does not vary
    ],
)  # fmt: skip
def test_a_panic_without_a_function_is_named_after_its_message(message: str, name: str) -> None:
    result = analyze_log(f"<0>[ 1.0] Kernel panic - not syncing: {message}\n")
    assert (result.function, (result.signature or "").rsplit("-", 1)[0]) == (None, f"kernel-{name}")


def test_a_panic_name_is_the_same_whatever_varies_and_differs_by_message() -> None:
    def panic(message: str) -> str | None:
        return analyze_log(f"<0>[ 1.0] Kernel panic - not syncing: {message}\n").signature

    assert panic("Attempted to kill init! exitcode=0x00000009") == panic(
        "Attempted to kill init! exitcode=0x0000000b"
    )
    assert panic("sysrq triggered crash") != panic("Fatal exception")


FRAGMENTS = [
    "Kernel panic - not syncing: Fatal exception",
    "Kernel panic - not syncing: sysrq triggered crash",
    "Kernel panic - not syncing: hung_task: blocked tasks",
    "BUG: kernel NULL pointer dereference, address: 0000000000000000",
    "Oops: 0002 [#1] PREEMPT SMP NOPTI",
    "general protection fault: 0000 [#1] SMP",
    "kernel BUG at mm/slub.c:1!",
    "Unable to handle kernel paging request at virtual address 0",
    "Internal error: Oops: 96000045 [#1] SMP",
    "WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2",
    "INFO: task a b:12 blocked for more than 120 seconds.",
    "watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [a:1]",
    "NMI watchdog: Watchdog detected hard LOCKUP on cpu 0",
    "mce: [Hardware Error]: Machine check events logged",
    "Call Trace:",
    "Call trace:",
    " <TASK>",
    " </TASK>",
    " <IRQ>",
    " ? f+0x1/0x2",
    " f+0x1/0x2 [m]",
    " g.cold+0x1/0x2",
    " [<ffffffff81000000>] h+0x1/0x2",
    " [<ffffffff81000000>] ? 0xffffffff81000000",
    " a [m] from b+0x1/0x2",
    "RIP: 0010:f+0x1/0x2 [m]",
    "RIP: 0033:0x47fbe9",
    "pc : f+0x1/0x2",
    "PC is at f+0x1/0x2",
    "EIP: f+0x1/0x2",
    "CPU: 0 PID: 1 Comm: a b Tainted: G   W  6.1.0 #1",
    "CPU: 1 UID: 0 PID: 0 Comm: swapper/1 Not tainted 6.12.0 #1",
    "      Not tainted 6.1.0 #1",
    "Hardware name: QEMU",
    "Linux version 6.1.0-56-amd64 (x)",
    "Code: 0f 0b",
    "RAX: 0000000000000000",
    "",
]
kernel_lines = st.lists(st.sampled_from(FRAGMENTS), max_size=40)


def check_invariants(result: Analysis) -> None:
    assert (result.summary is None) == (result.signature is None)
    signature = SIGNATURE.fullmatch(result.signature or "")
    assert (result.signature is None) or (signature and len(signature["panic"] or "") <= 40)
    assert result.summary is None or "\n" not in result.summary
    assert all(NAME.fullmatch(name) for name in result.call_trace)
    assert result.function is None or NAME.fullmatch(result.function)
    assert result.pid is None or result.pid >= 0


@given(st.text())
@example("BUG: \udcff")  # a lone surrogate, as surrogateescape decoding leaves them
@example("Kernel panic - not syncing: \x00\r\n\x85\u2028Call Trace:\n ? \n")
@example("CPU: 0 PID: 99999999999 Comm: a Not tainted 1\nBUG: x")
def test_any_text_gives_an_analysis(text: str) -> None:
    check_invariants(analyze_log(text))


@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=30)), max_size=40))
def test_any_mix_of_kernel_lines_gives_an_analysis(lines: list[str]) -> None:
    check_invariants(analyze_log("\n".join(lines)))


@given(kernel_lines)
def test_prefixes_do_not_matter(lines: list[str]) -> None:
    prefixed = [f"<4>[{index:5d}.{index:06d}] {line}" for index, line in enumerate(lines)]
    assert analyze_log("\n".join(prefixed)) == analyze_log("\n".join(lines))


SIZE = 3 << 20
SHAPES = {
    "empty lines": "\n",
    "one-letter lines": "a\n",
    "one long line": "Comm: BUG: [<0>] ",
    "crash lines": "BUG: x\n",
    "one long call trace": " f+0x1/0x2 [m]\n",
    "call trace headers": "Call Trace:\n",
    "task lines": "CPU: 0 PID: 1 Comm: a Tainted: G W 6.1 #1\n",
}


@pytest.mark.parametrize("shape", ["real logs", *SHAPES])
def test_a_few_megabytes_in_linear_time(shape: str) -> None:
    unit = SHAPES.get(shape) or "".join(load(key) for key in EXPECTED if key.startswith("real/"))
    text = "BUG: start\nCall Trace:\n" + unit * (SIZE // len(unit))
    # No speed is asserted here (bench/ measures speed): about 1 s per shape, where one
    # quadratic step would take hours, so an alarm turns such a hang into a failure.
    signal.signal(signal.SIGALRM, _too_slow)
    signal.alarm(HANG_SECONDS)
    try:
        check_invariants(analyze_log(text))
    finally:
        signal.alarm(0)


HANG_SECONDS = 600


def _too_slow(signum: int, frame: object) -> None:
    raise AssertionError(f"analysis still running after {HANG_SECONDS} s: not linear")
