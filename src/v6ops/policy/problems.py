"""A problem found in a policy document: where it is, how bad, and why it matters."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Severity(StrEnum):
    ERROR = "error"  # the config is not applied
    WARNING = "warning"  # applied, but probably not what the author meant


class Problem(BaseModel):
    """One finding; ``path`` is the dotted document path (``ra_guard.allowed_routers[0]``)."""

    model_config = ConfigDict(frozen=True)

    path: str
    severity: Severity
    code: str
    message: str
    target: str | None = None
    reference: str = ""
    line: int | None = None  # in YAML documents: the line of the path (or of its nearest written parent)


class DocumentReport(BaseModel):
    """What every report on one policy document starts with: which document, whether it loaded, why not."""

    model_config = ConfigDict(frozen=True)

    source: str
    loaded: bool
    problems: list[Problem]  # why the document could not be loaded (empty when loaded)


def error(path: str, code: str, message: str, reference: str = "", target: str | None = None) -> Problem:
    return Problem(path=path, severity=Severity.ERROR, code=code, message=message, reference=reference, target=target)


def warning(path: str, code: str, message: str, reference: str = "", target: str | None = None) -> Problem:
    return Problem(path=path, severity=Severity.WARNING, code=code, message=message, reference=reference, target=target)
