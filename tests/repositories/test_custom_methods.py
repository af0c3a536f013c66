"""``custom`` methods (hand-written bodies): claims, active flags, listings, cleanup.

A test that takes the ``backend`` fixture runs on both backends.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from synthorg.persistence import (
    DecisionRole,
    IdempotencyClaim,
    IdempotencyStatus,
    InvalidValueError,
    OAuthState,
    PersistenceBackend,
    PersistenceConnectionError,
    SettingRow,
)
from tests.repositories._rows import (
    COMPLETED,
    FAILED,
    FRESH,
    IN_FLIGHT,
    RACERS,
    _seed_agent_decisions,
    active_ids,
    claim,
    expire,
    ft_checkpoint,
    oauth_state,
    outcomes,
    setting_row,
    snapshot,
    stored,
    with_checkpoints,
)


async def test_set_active_moves_the_single_active_flag(
    backend: PersistenceBackend,
) -> None:
    ids = await with_checkpoints(backend, 3)
    repo = backend.fine_tune_checkpoints
    assert await repo.get_active_checkpoint() is None
    assert await repo.set_active(ids[0]) is True
    assert await active_ids(backend) == [ids[0]]
    assert await repo.set_active(ids[2]) is True
    assert await active_ids(backend) == [ids[2]]
    assert await repo.get_active_checkpoint() == ft_checkpoint(
        ids[2], active=True, minutes=2
    )
    assert await repo.set_active(ids[2]) is True  # already active: stays active
    assert await active_ids(backend) == [ids[2]]


async def test_set_active_on_a_missing_checkpoint_changes_nothing(
    backend: PersistenceBackend,
) -> None:
    ids = await with_checkpoints(backend, 2)
    repo = backend.fine_tune_checkpoints
    assert await repo.set_active("no-such-checkpoint") is False
    assert await active_ids(backend) == []
    assert await repo.set_active(ids[1]) is True
    before = await repo.list_items()
    # The clear ran inside the transaction and was rolled back with it.
    assert await repo.set_active("no-such-checkpoint") is False
    assert await repo.list_items() == before
    assert await active_ids(backend) == [ids[1]]


async def test_concurrent_set_active_leaves_exactly_one_active(
    backend: PersistenceBackend,
) -> None:
    ids = await with_checkpoints(backend, RACERS)
    repo = backend.fine_tune_checkpoints
    results = await asyncio.gather(*(repo.set_active(i) for i in ids))
    assert results == [True] * RACERS
    active = await active_ids(backend)
    assert len(active) == 1
    assert active[0] in ids
    got = await repo.get_active_checkpoint()
    assert got is not None
    assert got.id == active[0]
    # Again, racing a missing id and an already active one.
    results = await asyncio.gather(
        *(repo.set_active(i) for i in [*ids, "missing", active[0]])
    )
    assert results == [True] * RACERS + [False, True]
    assert len(await active_ids(backend)) == 1


async def test_first_claim_is_fresh_and_stores_its_token(
    backend: PersistenceBackend,
) -> None:
    before = datetime.now(UTC)
    got = await claim(backend, ttl=30)
    assert got.outcome is FRESH
    assert got.claimed
    assert got.claim_token is not None
    assert len(got.claim_token) == 32
    int(got.claim_token, 16)  # uuid4 hex
    assert got.attempts == 1
    assert got.error is None
    assert got.response is None
    record = await stored(backend)
    assert record.status is IdempotencyStatus.IN_FLIGHT
    assert record.claim_token == got.claim_token
    assert record.expires_at == got.expires_at
    assert before + timedelta(seconds=29) <= record.expires_at
    assert record.expires_at <= datetime.now(UTC) + timedelta(seconds=31)
    assert record.created_at == record.claimed_at


async def test_a_live_claim_is_in_flight_for_everyone_else(
    backend: PersistenceBackend,
) -> None:
    first = await claim(backend)
    second = await claim(backend)
    assert second.outcome is IN_FLIGHT
    assert not second.claimed
    assert second.claim_token is None  # the holder's token is never handed out
    assert second.expires_at == first.expires_at
    assert (await stored(backend)).claim_token == first.claim_token
    # Another key or another scope is independent.
    other = await backend.idempotency_keys.claim("backup", "delivery-1", 60)
    assert other.outcome is FRESH


async def test_complete_then_claim_returns_the_stored_response(
    backend: PersistenceBackend,
) -> None:
    got = await claim(backend)
    assert got.claim_token is not None
    response = {"status": 202, "body": {"id": "x", "items": [1, 2]}}
    repo = backend.idempotency_keys
    assert await repo.complete(
        "webhooks:github", "delivery-1", got.claim_token, response
    )
    record = await stored(backend)
    assert record.status is IdempotencyStatus.COMPLETED
    assert record.response == response
    assert record.completed_at is not None
    again = await claim(backend)
    assert again.outcome is COMPLETED
    assert again.response == response
    assert again.claim_token is None
    # A completed claim cannot be completed again or failed.
    assert not await repo.complete("webhooks:github", "delivery-1", got.claim_token, {})
    assert not await repo.fail("webhooks:github", "delivery-1", got.claim_token, "x")
    assert await stored(backend) == record


async def test_a_wrong_token_changes_nothing(backend: PersistenceBackend) -> None:
    got = await claim(backend)
    repo = backend.idempotency_keys
    before = await stored(backend)
    for token in ("0" * 32, "not-a-token"):
        assert (
            await repo.complete("webhooks:github", "delivery-1", token, {"a": 1})
            is False
        )
        assert await repo.fail("webhooks:github", "delivery-1", token, "boom") is False
    assert await stored(backend) == before
    assert got.claim_token is not None
    # The right token on the wrong key: nothing either.
    assert await repo.complete("webhooks:github", "other", got.claim_token, {}) is False
    assert await repo.get(("webhooks:github", "other")) is None


async def test_failed_key_is_claimed_again_as_a_retry(
    backend: PersistenceBackend,
) -> None:
    repo = backend.idempotency_keys
    first = await claim(backend)
    assert first.claim_token is not None
    assert await repo.fail("webhooks:github", "delivery-1", first.claim_token, "boom")
    record = await stored(backend)
    assert record.status is IdempotencyStatus.FAILED
    assert record.error == "boom"
    retry = await claim(backend)
    assert retry.outcome is FAILED
    assert retry.claimed
    assert retry.claim_token not in (None, first.claim_token)
    assert retry.attempts == 2
    assert retry.error == "boom"
    assert (await claim(backend)).outcome is IN_FLIGHT  # the retry holds the lease
    # The first holder's token is stale now.
    assert not await repo.complete(
        "webhooks:github", "delivery-1", first.claim_token, {}
    )
    assert retry.claim_token is not None
    assert await repo.complete(
        "webhooks:github", "delivery-1", retry.claim_token, {"ok": 1}
    )
    done = await claim(backend)
    assert (done.outcome, done.response, done.attempts) == (COMPLETED, {"ok": 1}, 2)


async def test_an_expired_claim_is_fresh_again(backend: PersistenceBackend) -> None:
    repo = backend.idempotency_keys
    first = await claim(backend)
    assert first.claim_token is not None
    await repo.fail("webhooks:github", "delivery-1", first.claim_token, "boom")
    second = await claim(backend)
    assert second.outcome is FAILED
    await expire(backend)
    third = await claim(backend)
    assert third.outcome is FRESH  # expired counts as absent: history is reset
    assert third.attempts == 1
    assert third.error is None
    record = await stored(backend)
    assert record.error is None
    assert record.created_at == record.claimed_at
    # An expired completed claim is fresh too (the dedup window is over).
    assert third.claim_token is not None
    await repo.complete("webhooks:github", "delivery-1", third.claim_token, {"r": 1})
    await expire(backend)
    fourth = await claim(backend)
    assert (fourth.outcome, fourth.response) == (FRESH, None)
    assert (await stored(backend)).response is None


async def test_an_expired_holder_cannot_complete_after_a_re_claim(
    backend: PersistenceBackend,
) -> None:
    repo = backend.idempotency_keys
    stale = await claim(backend)
    await expire(backend)
    current = await claim(backend)
    assert current.outcome is FRESH
    assert stale.claim_token is not None
    assert not await repo.complete(
        "webhooks:github", "delivery-1", stale.claim_token, {}
    )
    assert not await repo.fail("webhooks:github", "delivery-1", stale.claim_token, "x")
    assert (await stored(backend)).claim_token == current.claim_token


@pytest.mark.parametrize("ttl", [0, -5, True, 1.5, "60"])
async def test_claim_refuses_a_bad_ttl(backend: PersistenceBackend, ttl: Any) -> None:
    with pytest.raises(InvalidValueError, match="ttl_seconds"):
        await backend.idempotency_keys.claim("s", "k", ttl)
    assert await backend.idempotency_keys.get(("s", "k")) is None


async def test_concurrent_claims_have_exactly_one_fresh_winner(
    backend: PersistenceBackend,
) -> None:
    claims = list(await asyncio.gather(*(claim(backend) for _ in range(RACERS))))
    assert outcomes(claims) == {FRESH: 1, IN_FLIGHT: RACERS - 1}
    winner = next(c for c in claims if c.claimed)
    assert (await stored(backend)).claim_token == winner.claim_token


async def test_concurrent_re_claims_of_an_expired_key_have_one_winner(
    backend: PersistenceBackend,
) -> None:
    first = await claim(backend)
    await expire(backend)
    claims = list(await asyncio.gather(*(claim(backend) for _ in range(RACERS))))
    assert outcomes(claims) == {FRESH: 1, IN_FLIGHT: RACERS - 1}
    winner = next(c for c in claims if c.claimed)
    assert winner.claim_token != first.claim_token
    assert (await stored(backend)).claim_token == winner.claim_token


async def test_concurrent_retries_of_a_failed_key_have_one_winner(
    backend: PersistenceBackend,
) -> None:
    first = await claim(backend)
    assert first.claim_token is not None
    await backend.idempotency_keys.fail(
        "webhooks:github", "delivery-1", first.claim_token, "boom"
    )
    claims = list(await asyncio.gather(*(claim(backend) for _ in range(RACERS))))
    assert outcomes(claims) == {FAILED: 1, IN_FLIGHT: RACERS - 1}
    assert (await stored(backend)).attempts == 2


async def test_racing_complete_and_fail_only_one_lands(
    backend: PersistenceBackend,
) -> None:
    got = await claim(backend)
    token = got.claim_token
    assert token is not None
    repo = backend.idempotency_keys
    results = await asyncio.gather(
        *(
            repo.complete("webhooks:github", "delivery-1", token, {"i": i})
            if i % 2
            else repo.fail("webhooks:github", "delivery-1", token, f"e{i}")
            for i in range(RACERS)
        )
    )
    assert results.count(True) == 1
    record = await stored(backend)
    i = results.index(True)
    if i % 2:
        assert (record.status, record.response) == (
            IdempotencyStatus.COMPLETED,
            {"i": i},
        )
    else:
        assert (record.status, record.error) == (IdempotencyStatus.FAILED, f"e{i}")


def test_claim_result_invariants() -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValueError, match="claim_token"):
        IdempotencyClaim(outcome=FRESH, attempts=1, expires_at=now)
    with pytest.raises(ValueError, match="claim_token"):
        IdempotencyClaim(outcome=IN_FLIGHT, claim_token="t", attempts=1, expires_at=now)
    with pytest.raises(ValueError, match="response"):
        IdempotencyClaim(outcome=IN_FLIGHT, response={}, attempts=1, expires_at=now)


async def test_list_by_agent_as_executor_newest_first(
    backend: PersistenceBackend,
) -> None:
    await _seed_agent_decisions(backend)
    rows = await backend.decision_records.list_by_agent("a", DecisionRole.EXECUTOR)
    # d3 and d5 tie on recorded_at: id ascending breaks the tie.
    assert [d.id for d in rows] == ["d3", "d5", "d1"]
    assert all(d.executing_agent_id == "a" for d in rows)
    page = await backend.decision_records.list_by_agent(
        "a", DecisionRole.EXECUTOR, limit=1, offset=1
    )
    assert [d.id for d in page] == ["d5"]


async def test_list_by_agent_as_reviewer_newest_first(
    backend: PersistenceBackend,
) -> None:
    await _seed_agent_decisions(backend)
    rows = await backend.decision_records.list_by_agent("a", DecisionRole.REVIEWER)
    assert [d.id for d in rows] == ["d2", "d4"]
    rows_c = await backend.decision_records.list_by_agent("c", DecisionRole.REVIEWER)
    assert [d.id for d in rows_c] == ["d6", "d3"]
    rows_c_exec = await backend.decision_records.list_by_agent(
        "c", DecisionRole.EXECUTOR
    )
    assert [d.id for d in rows_c_exec] == ["d4"]
    assert (
        await backend.decision_records.list_by_agent("zz", DecisionRole.REVIEWER) == ()
    )


async def test_cleanup_expired_deletes_only_rows_older_than_retention(
    backend: PersistenceBackend,
) -> None:
    repo = backend.oauth_states
    now = datetime.now(UTC)
    await repo.save(oauth_state("ancient", created_at=now - timedelta(days=3)))
    await repo.save(oauth_state("old", created_at=now - timedelta(seconds=700)))
    await repo.save(oauth_state("recent", created_at=now - timedelta(seconds=500)))
    await repo.save(oauth_state("fresh", created_at=now))
    await repo.save(oauth_state("future", created_at=now + timedelta(hours=1)))
    assert await repo.cleanup_expired(600) == 2
    assert [s.state_token for s in await repo.list_items()] == [
        "fresh",
        "future",
        "recent",
    ]
    assert await repo.cleanup_expired(600) == 0
    assert await repo.cleanup_expired(400) == 1
    assert [s.state_token for s in await repo.list_items()] == ["fresh", "future"]


async def test_cleanup_expired_on_an_empty_table(backend: PersistenceBackend) -> None:
    assert await backend.oauth_states.cleanup_expired(0) == 0


async def test_cleanup_expired_reaps_expired_and_consumed_but_stale_states(
    backend: PersistenceBackend,
) -> None:
    """The reference: "Delete all expired states. Also reaps consumed-but-stale
    rows older than retention_seconds" (not merely rows created long ago)."""
    repo = backend.oauth_states
    now = datetime.now(UTC)
    hour, days = timedelta(hours=1), timedelta(days=3)

    def consumed(token: str, at: datetime, **extra: Any) -> OAuthState:
        return oauth_state(
            token, consumed_at=at, connection_name_returned="github", **extra
        )

    for state in (
        # Expired: deleted however recent.
        oauth_state("expired", created_at=now, expires_at=now - timedelta(seconds=1)),
        consumed("expired-consumed", now, created_at=now, expires_at=now - hour),
        # Consumed longer ago than retention: deleted though not expired.
        consumed("consumed-stale", now - timedelta(seconds=700), expires_at=now + hour),
        # Never consumed, no expiry, created before retention: abandoned.
        oauth_state("abandoned", created_at=now - days),
        # Kept: consumed within retention (a redelivered callback is answered)
        # though created long ago; not expired though created long ago; live.
        consumed(
            "consumed-recent",
            now - timedelta(seconds=100),
            created_at=now - days,
            expires_at=now + hour,
        ),
        oauth_state("long-lived", created_at=now - days, expires_at=now + days),
        oauth_state("live", created_at=now, expires_at=now + hour),
    ):
        await repo.save(state)
    assert await repo.cleanup_expired(600) == 4
    assert [s.state_token for s in await repo.list_items()] == [
        "consumed-recent",
        "live",
        "long-lived",
    ]
    assert await repo.cleanup_expired(600) == 0
    # A shorter retention reaps the recently consumed one; expiry rules stay.
    assert await repo.cleanup_expired(50) == 1
    assert [s.state_token for s in await repo.list_items()] == ["live", "long-lived"]


@pytest.mark.parametrize("retention", [-1, True, 10**20])
async def test_cleanup_expired_refuses_a_bad_retention(
    backend: PersistenceBackend, retention: Any
) -> None:
    repo = backend.oauth_states
    await repo.save(
        oauth_state("expired", expires_at=datetime.now(UTC) - timedelta(hours=1))
    )
    with pytest.raises(InvalidValueError) as refused:
        await repo.cleanup_expired(retention)
    assert refused.value.is_retryable is False
    assert refused.value.field == "oauth_states.retention_seconds"
    assert await repo.get("expired") is not None  # nothing deleted


async def test_set_many_writes_everything_when_every_compare_holds(
    backend: PersistenceBackend,
) -> None:
    settings = backend.settings
    await settings.save(setting_row("ns", "existing", "old", "t1"))
    await settings.save(setting_row("ns", "plain", "old", "t1"))
    items = [
        setting_row("ns", "fresh", "new-fresh", "t2"),  # absent, claimed with ""
        setting_row("ns", "existing", "new-existing", "t2"),  # current version
        setting_row("ns", "plain", "new-plain", "t2"),  # not in the map: upsert
        setting_row("other", "fresh2", "new-fresh2", "t2"),  # not in the map, absent
    ]
    expected = {("ns", "fresh"): "", ("ns", "existing"): "t1"}
    assert await settings.set_many(items, expected) is True
    assert await snapshot(backend, "ns", "other") == [
        setting_row("ns", "existing", "new-existing", "t2"),
        setting_row("ns", "fresh", "new-fresh", "t2"),
        setting_row("ns", "plain", "new-plain", "t2"),
        setting_row("other", "fresh2", "new-fresh2", "t2"),
    ]


async def test_set_many_without_a_map_upserts_all(backend: PersistenceBackend) -> None:
    await backend.settings.save(setting_row("ns", "a", "old", "t1"))
    items = [setting_row("ns", "a", "A", "t2"), setting_row("ns", "b", "B", "t2")]
    assert await backend.settings.set_many(items) is True
    assert await snapshot(backend, "ns") == items
    assert await backend.settings.set_many([], {}) is True


@pytest.mark.parametrize(
    "failing",
    [
        ("existing", "stale"),  # wrong version of an existing row
        ("taken", ""),  # "" (must not exist) on an existing row
        ("ghost", "t1"),  # a version for a row that does not exist
    ],
    ids=["stale_version", "empty_on_existing", "version_on_missing"],
)
async def test_set_many_is_all_or_nothing_when_one_compare_fails(
    backend: PersistenceBackend, failing: tuple[str, str]
) -> None:
    settings = backend.settings
    await settings.save(setting_row("ns", "existing", "old-existing", "t1"))
    await settings.save(setting_row("ns", "plain", "old-plain", "t1"))
    await settings.save(setting_row("ns", "taken", "old-taken", "t1"))
    await settings.save(setting_row("other", "x", "old-x", "t1"))
    before = await snapshot(backend, "ns", "other")
    failing_key, failing_version = failing
    items = [
        setting_row("ns", "fresh", "new", "t2"),  # earlier: absent, claimed with ""
        setting_row("ns", "plain", "new", "t2"),  # earlier: unconditional upsert
        setting_row("other", "x", "new", "t2"),  # earlier: compare that holds
        setting_row("other", "brand-new", "new", "t2"),  # earlier: new, no compare
        setting_row("ns", failing_key, "new", "t2"),  # the compare that fails
        setting_row("ns", "after", "new", "t2"),  # later: never reached
    ]
    expected = {
        ("ns", "fresh"): "",
        ("other", "x"): "t1",
        ("ns", failing_key): failing_version,
    }
    assert await settings.set_many(items, expected) is False
    assert await snapshot(backend, "ns", "other") == before
    assert await settings.get(("ns", "fresh")) is None
    assert await settings.get(("other", "brand-new")) is None
    assert await settings.get(("ns", "after")) is None
    # The repository is still usable afterwards (the transaction was closed).
    assert await settings.set_many([setting_row("ns", "fresh", "ok", "t3")]) is True
    assert await settings.get(("ns", "fresh")) == setting_row("ns", "fresh", "ok", "t3")


async def test_failed_set_many_is_never_visible_to_concurrent_readers(
    backend: PersistenceBackend, request: pytest.FixtureRequest
) -> None:
    """A set_many that ends False must not be observable half-done.

    Readers polling while a set_many is in flight must only ever see the
    committed state. On SQLite file databases reads use a separate WAL
    reader connection; on :memory: they wait for the writer's transaction.
    """
    settings = backend.settings
    await settings.save(setting_row("ns", "existing", "old", "t1"))
    done = asyncio.Event()
    observed: list[SettingRow | None] = []

    async def reader() -> None:
        while not done.is_set():
            observed.append(await settings.get(("ns", "fresh")))
            observed.append(await settings.get(("ns", "existing")))
            await asyncio.sleep(0)

    async def writer() -> list[bool]:
        results = []
        for _ in range(30):
            results.append(
                await settings.set_many(
                    [
                        setting_row("ns", "fresh", "new", "t2"),
                        setting_row("ns", "existing", "new", "t2"),
                        setting_row("ns", "guard", "new", "t2"),
                    ],
                    {("ns", "guard"): "no-such-version"},
                )
            )
            await asyncio.sleep(0)
        done.set()
        return results

    results, _ = await asyncio.gather(writer(), reader())
    assert set(results) == {False}
    assert len(observed) > 0
    uncommitted = [r for r in observed if r is not None and r.value == "new"]
    assert uncommitted == []
    assert await snapshot(backend, "ns") == [setting_row("ns", "existing", "old", "t1")]


async def test_set_many_after_disconnect_is_a_connection_error(
    backend: PersistenceBackend, request: pytest.FixtureRequest
) -> None:
    """Like every generated method, set_many reports a closed connection as
    PersistenceConnectionError (a held repository outliving disconnect())."""
    settings = backend.settings
    await backend.disconnect()
    with pytest.raises(PersistenceConnectionError):
        await settings.save(setting_row("ns", "k", "v", "t"))
    with pytest.raises(PersistenceConnectionError):
        await settings.set_many([setting_row("ns", "k", "v", "t")])


async def test_concurrent_set_many_claims_of_one_fresh_key_have_one_winner(
    backend: PersistenceBackend,
) -> None:
    claims = [
        [
            setting_row("ns", "lock", f"owner-{i}", f"t{i}"),
            setting_row("ns", f"side-{i}", "x", "t"),
        ]
        for i in range(20)
    ]
    results = await asyncio.gather(
        *(backend.settings.set_many(items, {("ns", "lock"): ""}) for items in claims)
    )
    assert results.count(True) == 1
    winner = results.index(True)
    assert await backend.settings.get(("ns", "lock")) == claims[winner][0]
    # Each loser's side write was rolled back with its failed claim.
    rows = await backend.settings.get_namespace("ns")
    assert {r.key for r in rows} == {"lock", f"side-{winner}"}
