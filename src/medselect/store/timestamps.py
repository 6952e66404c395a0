"""Timestamps: timezone-aware UTC in Python, the same on every database.

SQLite has no time-zone type and drops ``tzinfo``; :class:`UTCDateTime` converts to UTC before
writing and marks values read back as UTC, so callers always see aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa


def utcnow() -> datetime:
    """The current time as a timezone-aware UTC datetime (what every timestamp column holds)."""
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A datetime column that accepts only aware datetimes and returns aware UTC ones.

    Raises:
        ValueError: when a naive datetime is written (its time zone would be a guess).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(
                f"timestamp {value.isoformat()} has no time zone; "
                "pass an aware datetime such as medselect.store.utcnow()"
            )
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
