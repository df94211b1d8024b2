"""Configuration errors: one line naming the field, the value and what is allowed."""
from __future__ import annotations


class ConfigError(ValueError):
    """A config value that is not allowed. ``str()`` is the one line shown to the user."""

    def __init__(self, field: str, value=None, allowed: str = "", *, message: str | None = None):
        self.field, self.value, self.allowed = field, value, allowed
        if message is None:
            message = f"{field}={_show(value)}: must be {allowed}" if allowed else f"{field}={_show(value)}"
        super().__init__(message)


def _show(value) -> str:
    if isinstance(value, float) and abs(value) < 1e16 and value == int(value):  # nan and inf: str
        return repr(value)
    return str(value) if not isinstance(value, str) else value
