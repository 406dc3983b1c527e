"""Errors that reach users: each names the file, dataset or key and what was expected.

The command line and the Snakemake scripts catch :class:`TomosnakeError` and print
its message alone (no traceback), exiting non-zero.
"""


class TomosnakeError(Exception):
    """Base class for every error tomosnake reports to a user."""


class InputError(TomosnakeError):
    """A data file is missing, unreadable, or holds data of the wrong shape/dtype/values."""


class ConfigError(TomosnakeError):
    """A configuration value, scan sheet entry or command-line option is invalid."""
