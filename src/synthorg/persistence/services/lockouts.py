"""Login lockouts: count failures over a window, lock for a duration.

Built by ``backend.build_lockouts(auth_config)`` once per connection: the
instance keeps a process-local cache of active lockouts for the auth hot
path (``is_locked`` answers from memory), so handing out a fresh instance
per call would silently forget them. The backend drops it on disconnect.
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
        self._locked: dict[str, datetime] = {}  # username -> locked_until

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
        self._locked[username] = until
        return True

    async def is_locked(self, username: NotBlankStr) -> bool:
        """Whether the username is locked out now (cache first, then storage)."""
        now = utc_now()
        until = self._locked.get(username)
        if until is None:
            stored = await self._lockouts.get(username)
            if stored is None:
                return False
            until = self._locked[username] = stored.locked_until
        if until > now:
            return True
        self._locked.pop(username, None)
        return False

    async def record_success(self, username: NotBlankStr) -> None:
        """A successful login clears the username's failures and lockout."""
        await self._failures.delete_for_user(username)
        await self._lockouts.delete(username)
        self._locked.pop(username, None)

    async def unlock(self, username: NotBlankStr) -> bool:
        """Lift a lockout by hand (and forget the failures that caused it).

        True when a lockout was in force. Without clearing the failures the
        very next failed login would lock the user again.
        """
        self._locked.pop(username, None)
        await self._failures.delete_for_user(username)
        return await self._lockouts.delete(username)

    async def purge_failures_before(self, threshold: datetime) -> int:
        """Retention for the failure log; the count."""
        return await self._failures.purge_before(threshold)
