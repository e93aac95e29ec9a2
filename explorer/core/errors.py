"""Errors the explorer reports to a person: each message names the file or value and what is wrong."""


class ExplorerError(Exception):
    """Base class: a problem with the user's input, reported as one line, never a traceback."""


class DataError(ExplorerError):
    """An image, folder or dataset that cannot be read."""


class DataUnavailable(DataError):
    """A dataset that is not on this machine and could not be downloaded."""


class CheckpointError(ExplorerError):
    """A checkpoint file that cannot be loaded safely into the chosen model."""


class ModelError(ExplorerError):
    """A model the explorer cannot open or take apart: untraceable, wrong input size, unsupported part."""


class OptionError(ExplorerError, ValueError):
    """A choice that does not fit this model or layer (a layer it lacks, a feature out of range, fill unpooling
    on overlapping pools): a ValueError to the API, one line to a person."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (an error line quotes a library's reason, never a traceback)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no details"
