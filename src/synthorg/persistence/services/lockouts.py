"""Login lockouts: count failures over a window, lock for a duration.

Built by ``backend.build_lockouts(auth_config)`` once per connection (one
policy per connection). The database is the only state: ``is_locked``
reads the stored lockout every time (one key lookup), so a lockout
recorded by any process sharing the database is honoured here and an
unlock anywhere is seen at once. An in-process cache of "locked until T"
could not see another process's unlock; it saved nothing on the common
path anyway (a user who is not locked always needed the lookup).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from synthorg.persistence._codec import utc_now
from synthorg.persistence.generated.lockouts import (
    LockoutRecord,
    LockoutRecordRepository,
)
from synthorg.persistence.generated.login_failures import (
    LoginFailure,
    LoginFailureRepository,
)
from synthorg.persistence.types import NotBlankStr


class AuthConfig(BaseModel):
    """The lockout policy (the operator's auth settings)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    lockout_threshold: int = Field(default=5, ge=1)
    lockout_window_seconds: int = Field(default=900, ge=1)
    lockout_duration_seconds: int = Field(default=900, ge=1)


class LockoutRepository:
    """Failure counting and lockouts over the generated repositories."""

    def __init__(
        self,
        config: AuthConfig,
        failures: LoginFailureRepository,
        lockouts: LockoutRecordRepository,
    ) -> None:
        self._config = config
        self._failures = failures
        self._lockouts = lockouts

    @property
    def config(self) -> AuthConfig:
        return self._config

    async def record_failure(
        self, username: NotBlankStr, ip_address: str | None = None
    ) -> bool:
        """Record a failed login; True when the username is now locked out."""
        now = utc_now()
        await self._failures.append(
            LoginFailure(
                id=secrets.token_hex(16),
                username=username,
                failed_at=now,
                ip_address=ip_address,
            )
        )
        window = timedelta(seconds=self._config.lockout_window_seconds)
        failures = await self._failures.count_since(username, now - window)
        if failures < self._config.lockout_threshold:
            return False
        until = now + timedelta(seconds=self._config.lockout_duration_seconds)
        await self._lockouts.save(
            LockoutRecord(
                username=username,
                locked_until=until,
                failure_count=failures,
                locked_at=now,
            )
        )
        return True

    async def is_locked(self, username: NotBlankStr) -> bool:
        """Whether the username is locked out now, as stored (one key lookup).

        Never from memory: another process may have locked or unlocked it.
        """
        stored = await self._lockouts.get(username)
        return stored is not None and stored.locked_until > utc_now()

    async def record_success(self, username: NotBlankStr) -> None:
        """A successful login clears the username's failures and lockout."""
        await self._failures.delete_for_user(username)
        await self._lockouts.delete(username)

    async def unlock(self, username: NotBlankStr) -> bool:
        """Lift a lockout by hand (and forget the failures that caused it).

        True when a lockout was in force. Without clearing the failures the
        very next failed login would lock the user again.
        """
        await self._failures.delete_for_user(username)
        return await self._lockouts.delete(username)

    async def purge_failures_before(self, threshold: datetime) -> int:
        """Retention for the failure log; the count."""
        return await self._failures.purge_before(threshold)
