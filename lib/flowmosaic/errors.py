"""Errors a user can act on: each says what is wrong and where."""


class FlowmosaicError(Exception):
    """Base class: the CLI prints these without a traceback and exits with status 2."""


class ConfigError(FlowmosaicError):
    """A configuration file or option is invalid."""


class InputError(FlowmosaicError):
    """An input file is unreadable or lacks a required column; no table was changed."""
