"""Error types that carry what the user needs to fix their input."""

from __future__ import annotations


class BadInputError(ValueError):
    """Input the user can fix: a file, a column, a row, a value.

    The CLI prints ``str(error)`` and exits with status 2, without a traceback.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        column: str | None = None,
        row: int | None = None,
        value: object = None,
    ) -> None:
        self.file, self.column, self.row, self.value = file, column, row, value
        where = []
        if file is not None:
            where.append(f"{file}")
        if row is not None:
            # ``row`` counts data rows from 1; the file line adds the header line.
            where.append(f"row {row} (line {row + 1})")
        if column is not None:
            where.append(f"column {column!r}")
        if value is not None:
            where.append(f"value {value!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class UsageError(ValueError):
    """A command used wrongly (an existing output without --force, a bad option)."""
