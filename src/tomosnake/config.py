"""The configuration schema, the one home of every setting's default.

``workflow/schemas/config.schema.yaml`` documents each key and its default; the package
carries the same file (``tomosnake/schemas``, a link in the source tree, a copy in a wheel),
so the command line, the library and the workflow all take their defaults from it.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import best_match

from tomosnake.errors import ConfigError


@functools.cache
def schema(name: str = "config") -> dict[str, Any]:
    """The parsed ``{name}.schema.yaml`` (``config`` or ``scans``)."""
    text = resources.files("tomosnake").joinpath("schemas", f"{name}.schema.yaml").read_text()
    return yaml.safe_load(text)


def _default(spec: dict[str, Any]) -> Any:
    """A property's default; for an object with properties, its declared default completed
    with its properties' defaults (recursively)."""
    if "properties" not in spec:
        return copy.deepcopy(spec.get("default"))
    out = copy.deepcopy(spec.get("default", {}))
    for key, sub in spec["properties"].items():
        if key not in out and ("default" in sub or "properties" in sub):
            out[key] = _default(sub)
    return out


def defaults(section: str) -> dict[str, Any]:
    """``{key: default}`` of one config section (e.g. ``"segment"``), nested sections
    completed with their own keys' defaults."""
    return _default(schema()["properties"][section])


def _fill_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema_):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(key, sub["default"])
        yield from validate_properties(validator, properties, instance, schema_)

    return validators.extend(validator_class, {"properties": set_defaults})


_Filling = _fill_defaults(Draft202012Validator)


def first_error(validator: Draft202012Validator, instance: Any) -> str | None:
    """``"key.path: message"`` of the most relevant schema violation (inside a ``oneOf``,
    the alternative's own complaint), or None."""
    err = best_match(sorted(validator.iter_errors(instance), key=lambda e: list(e.path)))
    if err is None:
        return None
    while err.context:  # oneOf/anyOf: the complaint of the alternative of the right type
        err = next((e for e in err.context if e.validator != "type"), err.context[0])
    where = ".".join(str(p) for p in err.absolute_path)
    return f"{where}: {err.message}" if where else err.message


def validate_config(config: Mapping[str, Any], where: str = "config") -> dict[str, Any]:
    """A copy of ``config`` validated against the schema with every default filled in."""
    cfg = copy.deepcopy(dict(config))
    problem = first_error(_Filling(schema()), cfg)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    return cfg


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a config YAML file, validate it and fill in defaults; ConfigError names the key."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc})") from None
    return validate_config(data, str(p))
