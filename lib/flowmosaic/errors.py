"""Errors a user can act on: each says what is wrong and where."""


class FlowmosaicError(Exception):
    """Base class: the CLI prints these in one line, without a traceback, and exits with
    status 2 (3 for a ConcurrentWriteError)."""


class ConfigError(FlowmosaicError):
    """A configuration file or option is invalid."""


class InputError(FlowmosaicError):
    """An input file is unreadable or lacks a required column; no table was changed."""


class ConcurrentWriteError(FlowmosaicError):
    """Another writer changed the same part of a table and retries ran out: the table is as
    the other writer left it (this job changed nothing). The CLI exits with status 3."""
