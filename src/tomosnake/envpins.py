"""Pin the pip part of every per-stage environment file to the lock's versions.

``python -m tomosnake.envpins requirements/lock.txt workflow/envs`` (``make env-pins``)
rewrites, in each ``ENVS_DIR/*.yaml``, the block of pip lines between the markers
``# pins`` and ``# end of pins``: every package that the line ``tomosnake[EXTRAS]==VERSION``
of that file needs, found by following requirements from ``pyproject.toml`` (the core
``dependencies`` and the named extras, extras that name ``tomosnake[...]`` expanded) through
the installed packages' metadata, each written as ``name==version`` with the version of the
lock. The lock is the one source of versions; the tomosnake line gets ``[project].version``.

Lines outside the block are kept: pip options (``--extra-index-url``) and hand-pinned builds
of a locked package (``torch==2.13.0+cpu``: same version as the lock, a named build), which
then stay out of the block, and GPU packages the lock does not hold (``cupy-cuda13x``).
Running it twice changes nothing. ``--check`` writes nothing and exits 1 when a file is
out of date.

Requirements on ``pip``, ``setuptools`` and ``wheel`` are left to the environment's conda
part (they are not in the lock: ``pip freeze`` leaves them out).
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tomosnake.errors import ConfigError

PROJECT = "tomosnake"
BEGIN = "# pins"
END = "# end of pins"
#: provided by the conda part of each environment, not pinned in the pip part
CONDA_LEVEL = frozenset({"pip", "setuptools", "wheel"})
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[(?P<extras>[^\]]*)\])?"
                  r"\s*==\s*(?P<version>\S+)$")
_PROJECT_LINE = re.compile(r"^(?P<indent>\s*)- tomosnake\[(?P<extras>[^\]]+)\](==\S+)?\s*$")


def read_lock(path: str | Path) -> dict[str, tuple[str, str]]:
    """``{canonical name: (name as written, version)}`` of a pip constraints file whose
    lines are ``name==version`` (comments and blank lines ignored)."""
    pins: dict[str, tuple[str, str]] = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = _PIN.match(line)
        if not m:
            raise ConfigError(f"{path}:{n}: expected 'name==version', got {line!r}")
        pins[canonicalize_name(m["name"])] = (m["name"], m["version"])
    return pins


def read_project(pyproject: str | Path) -> tuple[str, list[str], dict[str, list[str]]]:
    """Version, core requirements and extras of ``pyproject.toml``'s ``[project]``."""
    import tomllib  # Python >= 3.11, the environments' Python

    project = tomllib.loads(Path(pyproject).read_text())["project"]
    return (project["version"], list(project.get("dependencies", [])),
            {canonicalize_name(k): list(v)
             for k, v in project.get("optional-dependencies", {}).items()})


def _marker_env(python: str, extra: str = "") -> dict[str, str]:
    env = dict(default_environment())
    env.update(python_version=python, python_full_version=f"{python}.0", extra=extra)
    return env


def _applies(req: Requirement, python: str, extras: Iterable[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate(_marker_env(python, e)) for e in [""] + list(extras))


def closure(extras: Iterable[str], core: list[str], project_extras: Mapping[str, list[str]],
            lock: Mapping[str, tuple[str, str]], python: str = "3.11") -> dict[str, str]:
    """``{canonical name: 'name==version'}`` of everything ``tomosnake[extras]`` needs.

    Third-party requirements are followed through the metadata of the installed packages
    (which must be installed at the lock's version: ``make install``); markers are evaluated
    for Linux and Python ``python``.
    """
    todo: list[tuple[str, frozenset[str]]] = []
    seen_extras: set[str] = set()

    def add_project(names: Iterable[str]) -> None:
        for e in names:
            e = canonicalize_name(e)
            if e in seen_extras:
                continue
            if e not in project_extras:
                raise ConfigError(f"pyproject.toml: no extra {e!r} (have "
                                  f"{', '.join(sorted(project_extras))})")
            seen_extras.add(e)
            add_reqs(project_extras[e], [e])

    def add_reqs(reqs: Iterable[str], extras_: Iterable[str]) -> None:
        for text in reqs:
            req = Requirement(text)
            if not _applies(req, python, extras_):
                continue
            if canonicalize_name(req.name) == PROJECT:
                add_project(req.extras)
            else:
                todo.append((canonicalize_name(req.name), frozenset(req.extras)))

    add_reqs(core, [])
    add_project(extras)
    done: dict[str, set[str]] = {}
    while todo:
        name, want = todo.pop()
        if name in CONDA_LEVEL or (name in done and want <= done[name]):
            continue
        if name not in lock:
            raise ConfigError(f"{name} is needed (by {PROJECT}[{','.join(extras)}]) but is not "
                              "in the lock: run make lock")
        done.setdefault(name, set()).update(want)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise ConfigError(f"{name} is not installed here, so its requirements are "
                              "unknown: run make install") from None
        if Version(dist.version).public != Version(lock[name][1]).public:
            raise ConfigError(f"{name} {dist.version} is installed but the lock has "
                              f"{lock[name][1]}: run make install")
        for text in dist.requires or []:
            req = Requirement(text)
            if _applies(req, python, done[name]):
                todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return {name: f"{lock[name][0]}=={lock[name][1]}" for name in sorted(done)}


def pin_env_text(text: str, where: str, version: str, core: list[str],
                 project_extras: Mapping[str, list[str]],
                 lock: Mapping[str, tuple[str, str]]) -> str:
    """The environment file ``text`` with its tomosnake line and pins block brought up to
    date (``where`` names the file in errors)."""
    lines = text.splitlines()
    at = [i for i, line in enumerate(lines) if _PROJECT_LINE.match(line)]
    if len(at) != 1:
        raise ConfigError(f"{where}: expected one pip line '- tomosnake[EXTRAS]==VERSION', "
                          f"found {len(at)}")
    m = _PROJECT_LINE.match(lines[at[0]])
    indent, extras = m["indent"], [e.strip() for e in m["extras"].split(",")]
    lines[at[0]] = f"{indent}- {PROJECT}[{','.join(extras)}]=={version}"
    python = re.search(r"^\s*- python\s*=\s*(\d+\.\d+)", text, re.M)
    if not python:
        raise ConfigError(f"{where}: expected a conda dependency 'python=X.Y'")
    begin = [i for i, line in enumerate(lines) if line.strip() == BEGIN]
    end = [i for i, line in enumerate(lines) if line.strip() == END]
    if len(begin) > 1 or len(end) != len(begin) or (begin and end[0] < begin[0]):
        raise ConfigError(f"{where}: expected one '{BEGIN}' ... '{END}' block")
    if begin:
        block = slice(begin[0], end[0] + 1)
    else:
        block = slice(at[0] + 1, at[0] + 1)
    hand = {}
    for i, line in enumerate(lines):
        pin = _PIN.match(line.strip().removeprefix("- ").strip())
        if (block.start <= i < block.stop) or not pin or i == at[0]:
            continue
        hand[canonicalize_name(pin["name"])] = pin["version"]
    pins = closure(extras, core, project_extras, lock, python[1])
    for name, ver in hand.items():
        if name in pins and Version(ver).public != Version(lock[name][1]).public:
            raise ConfigError(f"{where}: {name}=={ver} is not the lock's version "
                              f"{lock[name][1]} (a build of it may add +LOCAL only)")
    new = [f"{indent}{BEGIN}"]
    new += [f"{indent}- {pin}" for name, pin in pins.items() if name not in hand]
    new += [f"{indent}{END}"]
    lines[block] = new
    return "\n".join(lines) + "\n"


def update_envs(lock_path: str | Path, envs_dir: str | Path, pyproject: str | Path | None = None,
                check: bool = False) -> list[Path]:
    """Bring every ``envs_dir/*.yaml`` up to date with the lock; returns the files that
    changed (with ``check``, that would change; nothing is written)."""
    envs = Path(envs_dir)
    pyproject = Path(pyproject) if pyproject else envs.resolve().parent.parent / "pyproject.toml"
    version, core, extras = read_project(pyproject)
    lock = read_lock(lock_path)
    files = sorted(envs.glob("*.yaml"))
    if not files:
        raise ConfigError(f"{envs}: no environment files (*.yaml)")
    changed = []
    for path in files:
        old = path.read_text()
        new = pin_env_text(old, str(path), version, core, extras, lock)
        if new != old:
            changed.append(path)
            if not check:
                path.write_text(new)
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m tomosnake.envpins LOCK ENVS_DIR [--check]``."""
    parser = argparse.ArgumentParser(prog="python -m tomosnake.envpins",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("lock", help="pip constraints file (requirements/lock.txt)")
    parser.add_argument("envs", help="folder of the environment files (workflow/envs)")
    parser.add_argument("--pyproject", help="default: ENVS/../../pyproject.toml")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    try:
        changed = update_envs(args.lock, args.envs, args.pyproject, args.check)
    except ConfigError as exc:
        print(f"envpins: {exc}", file=sys.stderr)
        return 2
    verb = "out of date" if args.check else "updated"
    for path in changed:
        print(f"{path}: {verb}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
