"""Errors a user can act on: each says what is wrong and where."""


class FlowmosaicError(Exception):
    """Base class: the CLI prints these in one line, without a traceback, and exits with
    status 2 (3 for a ConcurrentWriteError)."""


class ConfigError(FlowmosaicError):
    """A configuration file or option is invalid."""


class InputError(FlowmosaicError):
    """Something the user supplied is unusable: an input file (unreadable, a missing or repeated
    column, a value a whole-file reader cannot parse), a table or version to read (absent,
    empty, without the universe or countries asked for) or an option's value (a date, a
    parameter out of range). The message names the file, table, column or option. Raised
    before any table is written, except for a file that turns out unreadable while ingest
    reads it (the sources written before it stay written) and nightly's check, after its
    ingest, that the day has fund-day rows."""


class ConcurrentWriteError(FlowmosaicError):
    """Another writer changed the same part of a table and retries ran out: the table is as
    the other writer left it (this job changed nothing). The CLI exits with status 3."""
