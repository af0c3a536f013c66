"""``count`` methods: how many rows match.

A test that takes the ``backend`` fixture runs on both backends.
"""

from __future__ import annotations

from synthorg.persistence import (
    HumanRole,
    PersistenceBackend,
)
from tests.repositories._rows import (
    user,
)


async def test_count_by_role(backend: PersistenceBackend) -> None:
    await backend.users.save(user("u1", HumanRole.CEO))
    await backend.users.save(user("u2", HumanRole.MANAGER))
    await backend.users.save(user("u3", HumanRole.MANAGER))
    await backend.users.save(user("sys", HumanRole.SYSTEM))
    assert await backend.users.count_by_role(HumanRole.CEO) == 1
    assert await backend.users.count_by_role(HumanRole.MANAGER) == 2
    assert await backend.users.count_by_role(HumanRole.OBSERVER) == 0
    assert await backend.users.count_by_role(HumanRole.SYSTEM) == 1
