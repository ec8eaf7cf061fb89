"""Configuration files, drop-ins, overrides and their errors (DESIGN §6)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pstore_archiver import config as config_module
from pstore_archiver.cli import main
from pstore_archiver.config import DEFAULTS, SETTINGS, Config, bare_sections, load_config
from pstore_archiver.errors import ConfigError
from pstore_archiver.retention import Limits
from pstore_archiver.units import format_size, parse_duration, parse_size

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python < 3.11
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "raw, size",
    [
        ("0", 0),
        (1024, 1024),
        ("64K", 65536),
        ("256M", 256 << 20),
        ("1G", 1 << 30),
        ("1.5K", 1536),
        ("2T", 2 << 40),
        (" 10 M ", 10 << 20),
        ("5MiB", 5 << 20),
        ("7kb", 7 << 10),
    ],
)
def test_parse_size(raw: str | int, size: int) -> None:
    assert parse_size(raw) == size


@pytest.mark.parametrize(
    "raw, blamed",
    [
        ("12Q", "unit 'Q'"),
        ("-1K", "negative"),
        ("", "empty"),
        ("K", "not a size"),
        (-5, "negative"),
    ],
)
def test_parse_size_names_the_problem(raw: str | int, blamed: str) -> None:
    with pytest.raises(ValueError, match=blamed):
        parse_size(raw)


@pytest.mark.parametrize(
    "raw, seconds",
    [
        ("0", 0),
        (0, 0),
        ("90d", 90 * 86400),
        ("12h", 43200),
        ("30min", 1800),
        ("1w 2d", 9 * 86400),
        ("45s", 45),
        ("3600", 3600),
        ("1y", 31557600),
    ],
)
def test_parse_duration(raw: str | int, seconds: int) -> None:
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize(
    "raw, blamed",
    [
        ("3 fortnights", "unit 'fortnights'"),
        ("-1d", "negative"),
        ("", "empty"),
        ("d", "not a duration"),
    ],
)
def test_parse_duration_names_the_problem(raw: str, blamed: str) -> None:
    with pytest.raises(ValueError, match=blamed):
        parse_duration(raw)


def test_format_size() -> None:
    assert [format_size(n) for n in (0, 512, 2048, 256 << 20, 15 << 30)] == [
        "0B",
        "512B",
        "2.0K",
        "256M",
        "15G",
    ]


# --- the table of settings --------------------------------------------------------------------


def test_config_has_one_attribute_per_setting() -> None:
    assert Config._fields == (*(s.attribute for s in SETTINGS), "origins")
    assert len({(s.section, s.key) for s in SETTINGS}) == len(SETTINGS)
    assert Limits._fields == tuple(s.attribute for s in SETTINGS if s.section == "retention")


def test_the_pydantic_model_defaults_are_the_table_s() -> None:
    from pstore_archiver import config_model

    validated = config_model.validate({})
    assert not isinstance(validated, list)
    assert validated.model_dump() == DEFAULTS
    assert list(DEFAULTS) == ["source", "archive", "retention", "journal"]


def shipped_keys(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value as written) of the commented `#key = value` lines, in order."""
    section, keys = "", []
    for line in text.splitlines():
        if re.fullmatch(r"\[[a-z]+\]", line):
            section = line.strip("[]")
        elif match := re.fullmatch(r"#([a-z_]+) = (.*)", line):
            keys.append((section, match[1], match[2]))
    return keys


def test_the_shipped_file_lists_every_setting_in_order_with_its_default() -> None:
    from pstore_archiver import config_model

    text = (REPO / "conf" / "pstore-archiver.toml").read_text()
    listed = shipped_keys(text)
    assert [(section, key) for section, key, _ in listed] == [(s.section, s.key) for s in SETTINGS]
    written: dict[str, dict[str, object]] = {}
    for section, key, value in listed:
        written.setdefault(section, {}).update(json.loads(f'{{"{key}": {value}}}'))
    validated = config_model.validate(written)  # "256M" means 256 << 20
    assert not isinstance(validated, list), validated
    assert validated.model_dump() == DEFAULTS


def test_a_setting_missing_from_the_shipped_file_is_found() -> None:
    text = (REPO / "conf" / "pstore-archiver.toml").read_text().replace("#keep_free = ", "#x = ")
    assert [k for _, k, _ in shipped_keys(text)] != [s.key for s in SETTINGS]


def test_no_file_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "DEFAULT_PATH", tmp_path / "missing.toml")
    config = load_config(None, None, {})
    assert config.as_dict() == DEFAULTS
    assert set(config.origins.values()) == {"(default)"}
    assert (config.keep_free_bytes, config.keep_newest) == (0, 5)


def test_shipped_config_is_valid_and_says_the_defaults(tmp_path: Path) -> None:
    shipped = REPO / "conf" / "pstore-archiver.toml"
    assert load_config(shipped).as_dict() == DEFAULTS
    uncommented = re.sub(r"(?m)^#([a-z_]+ = )", r"\1", shipped.read_text())
    (tmp_path / "all.toml").write_text(uncommented)
    assert load_config(tmp_path / "all.toml").as_dict() == DEFAULTS


def test_drop_ins_override_in_lexical_order_and_origins_are_kept(tmp_path: Path) -> None:
    main_file = tmp_path / "pstore-archiver.toml"
    main_file.write_text('[retention]\nmax_use = "1G"\nmax_entries = 5\n')
    drop_ins = tmp_path / "pstore-archiver.toml.d"
    drop_ins.mkdir()
    (drop_ins / "20-b.toml").write_text('[retention]\nmax_use = "2G"\n')
    (drop_ins / "10-a.toml").write_text('[retention]\nmax_use = "3G"\n[journal]\nenabled = false\n')
    (drop_ins / "ignored.conf").write_text("not toml at all [")
    config = load_config(main_file, {"archive": {"path": "/srv/crash"}})
    assert (config.max_use_bytes, config.max_entries, config.journal_enabled) == (2 << 30, 5, False)
    assert config.archive_path == "/srv/crash"
    assert config.origins["retention.max_use"] == str(drop_ins / "20-b.toml")
    assert config.origins["retention.max_entries"] == str(main_file)
    assert config.origins["archive.path"] == "(command line)"
    assert config.origins["source.path"] == "(default)"


def test_environment_names_the_main_file(tmp_path: Path) -> None:
    main_file = tmp_path / "other.toml"
    main_file.write_text("[archive]\nunlink = false\n")
    assert load_config(None, None, {"PSTORE_ARCHIVER_CONFIG": str(main_file)}).unlink is False


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "[retention]\nmax_uze = 1\n",
            "retention.max_uze: unknown key (expected one of: max_entries",
        ),
        ("[retension]\nmax_use = 1\n", "retension: unknown section (expected one of: source"),
        ('[retention]\nmax_use = "12Q"\n', "retention.max_use: unknown size unit 'Q' in '12Q'"),
        ("[retention]\nmax_entries = -1\n", "retention.max_entries: Input should be greater than"),
        (
            '[archive]\nunlink = "maybe"\n',
            "archive.unlink: Input should be a valid boolean (got 'maybe')",
        ),
        (
            '[archive]\nunlink = "no"\n',
            "archive.unlink: Input should be a valid boolean (got 'no')",
        ),
        ("[archive]\npath = 5\n", "archive.path: Input should be a valid string (got 5)"),
        ('[retention]\nmax_age = "3 fortnights"\n', "retention.max_age: unknown time unit"),
        ("retention = 5\n", "retention: Input should be a valid dictionary"),
        ("[retention\n", "invalid TOML"),
        (
            '[journal]\ntext = "loud"\n',
            "journal.text: Input should be 'full', 'redacted' or 'none' (got 'loud')",
        ),
        (
            "[journal]\nattach_text = false\n",
            "journal.attach_text: unknown key (expected one of: enabled, text, max_attach)",
        ),
    ],
)
def test_errors_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "pstore-archiver.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert f"{path}: " in str(error.value)
    assert message in str(error.value)


def test_every_problem_is_reported_on_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "pstore-archiver.toml"
    path.write_text('[retention]\nmax_uze = 1\nmax_use = "x"\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert len(str(error.value).splitlines()) == 2


def test_explicit_config_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "nope.toml")


def test_config_verb_check_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pstore-archiver.toml"
    path.write_text('[retention]\nmax_use = "1G"\n')
    assert main(["--config", str(path), "config", "--check"]) == 0
    assert main(["--config", str(path), "--archive", "/srv/x", "config", "--json"]) == 0
    document = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert document["values"]["retention"]["max_use"] == 1 << 30
    assert document["origins"]["retention.max_use"] == str(path)
    assert document["origins"]["archive.path"] == "(command line)"
    assert main(["--config", str(path), "config"]) == 0
    assert f"max_use = 1073741824  # {path}" in capsys.readouterr().out
    path.write_text("[retention]\nbogus = 1\n")
    assert main(["--config", str(path), "config", "--check"]) == 78
    assert f"{path}: retention.bogus: unknown key" in capsys.readouterr().err


def _pydantic_used(config: Path, cache: Path, max_use: int = 1 << 30) -> bool:
    """Load the configuration in a fresh interpreter; did it import the pydantic models?"""
    code = (
        "import sys; from pathlib import Path; from pstore_archiver.config import load_config; "
        f"c = load_config(Path({str(config)!r})); assert c.max_use_bytes == {max_use}, c; "
        "print('pstore_archiver.config_model' in sys.modules)"
    )
    env = {**os.environ, "CACHE_DIRECTORY": str(cache)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip() == "True"


def test_validated_configuration_is_reused_until_a_file_changes(tmp_path: Path) -> None:
    config = tmp_path / "pstore-archiver.toml"
    config.write_text('[retention]\nmax_use = "1G"\n')
    cache = tmp_path / "cache"
    cache.mkdir()
    assert _pydantic_used(config, cache) is True
    assert (cache / "config.json").exists()
    assert _pydantic_used(config, cache) is False  # same files: the cached result
    config.write_text('[retention]\nmax_use = "1024M"\n')
    assert _pydantic_used(config, cache) is True  # changed: validated again
    drop_ins = tmp_path / "pstore-archiver.toml.d"
    drop_ins.mkdir()
    (drop_ins / "x.toml").write_text("[retention]\nmax_entries = 3\n")
    assert _pydantic_used(config, cache) is True  # a new drop-in: validated again


def test_the_shipped_file_needs_no_pydantic_even_without_a_cache(tmp_path: Path) -> None:
    """conf/pstore-archiver.toml has its section headers but every key commented out."""
    shipped = tmp_path / "pstore-archiver.toml"
    shipped.write_bytes((REPO / "conf" / "pstore-archiver.toml").read_bytes())
    no_cache = tmp_path / "not-a-cache"  # CACHE_DIRECTORY names a directory that is not there
    assert _pydantic_used(shipped, no_cache, max_use=256 << 20) is False
    shipped.write_text(shipped.read_text() + "[bogus]\n")  # an unknown section, even empty
    assert main(["--config", str(shipped), "config", "--check"]) == 78


def test_headers_and_comments_are_read_without_the_toml_parser() -> None:
    """The shipped file reads as its sections, empty, as tomllib reads it; anything more
    (a key, a table array, a header twice, a quoted name) is left to tomllib."""
    shipped = (REPO / "conf" / "pstore-archiver.toml").read_text()
    assert bare_sections(shipped) == tomllib.loads(shipped) != {}
    assert bare_sections("# only a comment\n\n") == {}
    assert bare_sections("[a] # note\n [ b-c_d ]\n") == {"a": {}, "b-c_d": {}}
    for text in ("[a]\nkey = 1\n", "[[a]]\n", "[a]\n[a]\n", '["a"]\n', "[a.b]\n", "[é]\n"):
        assert bare_sections(text) is None, text


def test_a_broken_file_is_never_served_from_the_cache(tmp_path: Path) -> None:
    config = tmp_path / "pstore-archiver.toml"
    config.write_text('[retention]\nmax_use = "1G"\n')
    environ = {"CACHE_DIRECTORY": str(tmp_path)}
    load_config(config, None, environ)
    config.write_text("[retention]\nmax_use = 'bogus'\n")
    with pytest.raises(ConfigError, match=r"retention\.max_use"):
        load_config(config, None, environ)
