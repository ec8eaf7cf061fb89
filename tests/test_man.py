"""The man pages (man/) are hand-written; these tests keep them in step with the code.

pstore-archiver(8) must document every command and option of `cli.build_parser()` and no
other, every exit code of `cli`, and every environment variable the package reads;
pstore-archiver.toml(5) every key of `config.DEFAULTS` with its default, which the real
validator must turn into that default.  groff must format both without a warning.  Each
check has a twin that shows it can fail.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pstore_archiver import cli, config, config_model

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python < 3.11 only
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PAGE_8 = REPO / "man" / "man8" / "pstore-archiver.8"
PAGE_5 = REPO / "man" / "man5" / "pstore-archiver.toml.5"
HELP = {"-h", "--help"}


# --- a small reader for the roff these pages use ------------------------------------------


def plain(roff: str) -> str:
    """A roff line as text: escapes resolved, font changes and quotes dropped."""
    text = re.sub(r"\\f[BIRP]", "", roff)
    text = text.replace("\\-", "-").replace("\\(dq", '"').replace("\\(aq", "'")
    text = text.replace("\\&", "").replace("\\e", "\\")
    return text.replace('"', "") if roff.startswith(".") else text


@dataclass
class Section:
    title: str
    subsections: dict[str, list[str]] = field(default_factory=dict)  # .SS title -> .TP tags
    tags: list[str] = field(default_factory=list)  # .TP tags before any .SS


def read_page(text: str) -> dict[str, Section]:
    """Sections (.SH) with the tag line of every .TP, grouped by subsection (.SS)."""
    sections: dict[str, Section] = {}
    current: Section | None = None
    tags: list[str] | None = None
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if line.startswith(".SH "):
            title = plain(line[4:]).replace('"', "").strip()
            current = sections.setdefault(title, Section(title))
            tags = current.tags
        elif line.startswith(".SS ") and current is not None:
            title = plain(line[4:]).replace('"', "").strip()
            tags = current.subsections.setdefault(title, [])
        elif line.strip() in (".TP", ".TQ") and tags is not None:
            tag = lines[number + 1]
            assert not tag.startswith((".TP", ".SH", ".SS")), f"line {number + 1}: empty tag"
            tags.append(plain(re.sub(r"^\.[A-Z]+ ?", "", tag)).strip())
    return sections


OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][a-z-]*)")  # -n, -D, --since


def options_in(tags: list[str]) -> set[str]:
    return {option for tag in tags for option in OPTION.findall(tag)}


# --- the parser, as argparse holds it -----------------------------------------------------


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(actions) == 1
    return dict(actions[0].choices)


def option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings}


def positionals(parser: argparse.ArgumentParser) -> set[str]:
    return {
        str(action.metavar or action.dest)
        for action in parser._actions
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction)
    }


@dataclass(frozen=True)
class Mismatch:
    where: str
    undocumented: set[str]
    not_in_the_code: set[str]


def compare_page_8(text: str, parser: argparse.ArgumentParser) -> Iterator[Mismatch]:
    """Every way pstore-archiver(8) differs from the parser."""
    page = read_page(text)
    commands = {title.split()[0]: title for title in page["COMMANDS"].subsections}
    code = subcommands(parser)
    yield Mismatch("COMMANDS", set(code) - set(commands), set(commands) - set(code))
    for name in set(code) & set(commands):
        title = commands[name]
        documented = options_in(page["COMMANDS"].subsections[title])
        wanted = option_strings(code[name]) - HELP
        yield Mismatch(f"COMMANDS {name}", wanted - documented, documented - wanted)
        in_synopsis = set(OPTION.findall(title)) | set(re.findall(r"\b[A-Z]+\b", title))
        short = {min(a.option_strings, key=len) for a in code[name]._actions if a.option_strings}
        yield Mismatch(
            f"COMMANDS {name} (its heading)",
            ((short - HELP) | positionals(code[name])) - in_synopsis,
            set(),
        )
    documented = options_in(page["OPTIONS"].tags)
    wanted = option_strings(parser)
    yield Mismatch("OPTIONS", wanted - documented, documented - wanted)


def test_page_8_documents_every_command_and_option_and_nothing_else() -> None:
    problems = [m for m in compare_page_8(PAGE_8.read_text(), cli.build_parser()) if
                m.undocumented or m.not_in_the_code]  # fmt: skip
    assert problems == []


@pytest.mark.parametrize(
    "edit, where",
    [
        (lambda p: p.add_argument("--frobnicate"), "OPTIONS"),
        (lambda p: subcommands(p)["vacuum"].add_argument("--frobnicate"), "COMMANDS vacuum"),
        (lambda p: subcommands(p)["list"].add_argument("--reverse"), "COMMANDS list"),
    ],
)
def test_an_option_missing_from_page_8_is_found(edit: Any, where: str) -> None:
    parser = cli.build_parser()
    edit(parser)
    problems = {m.where: m for m in compare_page_8(PAGE_8.read_text(), parser)}
    assert problems[where].undocumented


def test_a_command_or_option_only_on_page_8_is_found() -> None:
    text = PAGE_8.read_text()
    added = text.replace(
        '.SS "\\fBconfig\\fR',
        '.SS "\\fBfrobnicate\\fR [\\fIDIR\\fR]"\nFrobnicate.\n.TP\n.B \\-\\-hard\nHard.\n'
        '.SS "\\fBconfig\\fR',
    )
    added = added.replace(".B \\-\\-dry\\-run\nShow what", ".B \\-\\-dry\\-walk\nShow what")
    problems = {m.where: m for m in compare_page_8(added, cli.build_parser())}
    assert problems["COMMANDS"].not_in_the_code == {"frobnicate"}
    assert problems["COMMANDS run"].not_in_the_code == {"--dry-walk"}
    assert problems["COMMANDS run"].undocumented == {"--dry-run"}


def test_page_8_lists_every_exit_code() -> None:
    codes = {value for name, value in vars(cli).items() if name.startswith("EXIT_") and
             isinstance(value, int)}  # fmt: skip
    assert codes >= {0, 1, 2, 73, 75, 78}
    documented = {int(tag) for tag in read_page(PAGE_8.read_text())["EXIT STATUS"].tags}
    assert documented == codes


def environment_variables() -> set[str]:
    """Every environment variable the package reads."""
    names = {config.ENVIRONMENT_VARIABLE}
    for module in (REPO / "pstore_archiver").glob("*.py"):
        names |= set(re.findall(r'environ(?:\.get\(|\[)\s*"([A-Z][A-Z0-9_]*)"', module.read_text()))
    return names


def test_page_8_lists_every_environment_variable() -> None:
    found = environment_variables()
    assert {"PSTORE_ARCHIVER_CONFIG", "SYSTEMD_LOG_LEVEL"} <= found
    assert set(read_page(PAGE_8.read_text())["ENVIRONMENT"].tags) == found


def test_page_8_names_the_default_files() -> None:
    files = " ".join(read_page(PAGE_8.read_text())["FILES"].tags)
    for path in (
        str(config.DEFAULT_PATH),
        f"{config.DEFAULT_PATH}.d/*.toml",
        config.DEFAULTS["archive"]["path"],
        config.DEFAULTS["source"]["path"],
    ):
        assert path in files


# --- pstore-archiver.toml(5) ---------------------------------------------------------------


def documented_defaults(text: str) -> dict[str, dict[str, Any]]:
    """{section: {key: default}} from the `.B key = value` tags of the "[section]" parts."""
    documented: dict[str, dict[str, Any]] = {}
    for title, section in read_page(text).items():
        if not title.startswith("["):
            continue
        keys = documented.setdefault(title.strip("[]"), {})
        for tag in section.tags:
            keys.update(tomllib.loads(tag))  # "max_use = "256M"" is a line of TOML
    return documented


def test_page_5_documents_every_key_with_its_default() -> None:
    documented = documented_defaults(PAGE_5.read_text())
    assert [(s, k) for s, keys in documented.items() for k in keys] == [
        (setting.section, setting.key) for setting in config.SETTINGS
    ]  # every setting of the table, in its order
    # The defaults as written ("256M", "0") mean the defaults of the code.
    validated = config_model.validate(documented)
    assert not isinstance(validated, list), validated
    assert validated.model_dump() == config.DEFAULTS


def test_a_wrong_or_missing_default_on_page_5_is_found() -> None:
    text = PAGE_5.read_text()
    assert ".B max_use = \\(dq256M\\(dq" in text
    wrong = documented_defaults(
        text.replace("max_use = \\(dq256M\\(dq", "max_use = \\(dq128M\\(dq")
    )
    validated = config_model.validate(wrong)
    assert not isinstance(validated, list)
    assert validated.model_dump() != config.DEFAULTS
    missing = documented_defaults(text.replace(".B max_age = ", ".B maximum_age = "))
    assert set(missing["retention"]) != set(config.DEFAULTS["retention"])


# --- formatting ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def groff() -> str:
    path = shutil.which("groff")
    if path is None:
        pytest.skip("groff not found (Debian package: groff-base)")
    return path


def groff_warnings(groff: str, page: Path) -> str:
    result = subprocess.run([groff, "-man", "-ww", "-z", str(page)], capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    return f"exit {result.returncode}: {result.stderr}" if result.returncode else result.stderr


@pytest.mark.parametrize("page", [PAGE_8, PAGE_5], ids=lambda p: p.name)
def test_groff_formats_the_page_without_a_warning(groff: str, page: Path) -> None:
    assert groff_warnings(groff, page) == ""


def test_groff_warns_about_a_broken_page(groff: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.8"
    broken.write_text(PAGE_8.read_text().replace(".SH NAME", ".SH NAME\n.BOGUS macro", 1))
    assert groff_warnings(groff, broken) != ""
