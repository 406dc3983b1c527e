"""The workflow's phases: their label values (dark to bright) and the one parser of the
``name=value,...`` text that commands accept."""

from __future__ import annotations

from tomosnake.errors import ConfigError

#: label value of each phase in every labels store the workflow writes
PHASES: dict[str, int] = {"pore": 0, "cbd": 1, "nmc": 2}


def parse_phases(text: str, option: str = "--phases") -> dict[str, int]:
    """``"pore=0,cbd=1,nmc=2"`` -> {"pore": 0, "cbd": 1, "nmc": 2} (order kept).

    Raises ConfigError naming ``option`` unless every item is ``name=value`` with a distinct
    name and a distinct label value in 0..255.
    """
    out: dict[str, int] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value.isdigit() or int(value) > 255 or name in out:
            raise ConfigError(f"{option} {text!r}: expected distinct name=label pairs with "
                              "labels 0..255, e.g. pore=0,cbd=1,nmc=2")
        out[name] = int(value)
    if not out or len(set(out.values())) != len(out):
        raise ConfigError(f"{option} {text!r}: expected distinct name=label pairs, e.g. "
                          "pore=0,cbd=1,nmc=2")
    return out
