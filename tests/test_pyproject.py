"""The ``mtclean`` command pyproject.toml declares: resolved and run as pip's console script runs
it (``sys.exit(main())`` with the command's arguments in ``sys.argv``), without installing it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mtclean() -> EntryPoint:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    return EntryPoint("mtclean", scripts["mtclean"], "console_scripts")


def run_mtclean(*args: str) -> subprocess.CompletedProcess[str]:
    """``mtclean args``, the way pip's generated script calls the entry point."""
    ep = mtclean()
    code = ("import sys\nfrom importlib.metadata import EntryPoint\n"
            f"sys.argv = ['mtclean', *{list(args)!r}]\n"
            f"sys.exit(EntryPoint('mtclean', {ep.value!r}, 'console_scripts').load()())")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_mtclean_is_the_flows_command_line() -> None:
    from flows.cli import main

    assert mtclean().value == "flows.cli:main"
    assert mtclean().load() is main  # what `python -m flows.preprocess` runs


def test_mtclean_help_names_the_settings() -> None:
    done = run_mtclean("--help")
    assert done.returncode == 0, done.stderr
    assert "--source" in done.stdout and "--output" in done.stdout


def test_mtclean_exits_with_mains_status(tmp_path: Path) -> None:
    """A bad setting: main returns 2 before any Prefect server starts, and so does the command."""
    done = run_mtclean("--source", str(tmp_path / "missing"), "--output", str(tmp_path / "out"))
    assert done.returncode == 2
    assert f"--source {tmp_path / 'missing'}: source" in done.stderr
    assert "does not exist" in done.stderr
    assert not (tmp_path / "out").exists()


def test_every_package_and_its_data_ships() -> None:
    """A non-editable install carries only the packages pyproject.toml lists and the data files
    its package-data names: every folder of code (a stage of tasks too) and every file beside
    the code that it reads (word lists, exonyms.txt, the report's template, views.sql)."""
    import fnmatch

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages, data = set(config["packages"]), config["package-data"]
    missing: list[str] = []
    for top in ("flows", "tasks", "schemas", "store"):
        for init in sorted((ROOT / top).rglob("__init__.py")):
            package = ".".join(init.parent.relative_to(ROOT).parts)
            if package not in packages:
                missing.append(f"package {package}")
            for path in sorted(init.parent.iterdir()):
                if path.is_file() and path.suffix not in (".py", ".pyc") and not any(
                        fnmatch.fnmatch(path.name, g) for g in data.get(package, [])):
                    missing.append(f"data {path.relative_to(ROOT)}")
    assert missing == []
