"""``update`` methods: guarded column updates, their results and their races.

A test that takes the ``backend`` fixture runs on both backends.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from synthorg.persistence import (
    FineTuneStatus,
    PersistenceBackend,
    QueryError,
    SsrfViolationFilterSpec,
    SsrfViolationStatus,
    WebhookStatus,
)
from tests.repositories._rows import (
    RACERS,
    T0,
    at_second,
    ids,
    oauth_state,
    receipt,
    risk_override,
    run,
    violation,
    with_checkpoints,
)


async def test_revoke_only_once(backend: PersistenceBackend) -> None:
    ro = backend.risk_overrides
    original = risk_override("o1", timedelta(hours=1))
    await ro.save(original)
    before = datetime.now(UTC)
    assert await ro.revoke("o1", "alice") is True
    after = datetime.now(UTC)
    revoked = await ro.get("o1")
    assert revoked is not None
    assert revoked.revoked_by == "alice"
    assert revoked.revoked_at is not None
    assert revoked.revoked_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= revoked.revoked_at <= after
    assert revoked.model_copy(update={"revoked_at": None, "revoked_by": None}) == (
        original
    )
    assert await ro.list_active() == ()
    # A second revoke changes nothing, whoever asks.
    assert await ro.revoke("o1", "bob") is False
    assert await ro.get("o1") == revoked


async def test_revoke_unknown_is_false_and_expired_may_be_revoked(
    backend: PersistenceBackend,
) -> None:
    ro = backend.risk_overrides
    assert await ro.revoke("ghost", "alice") is False
    assert await ro.list_items() == ()
    await ro.save(risk_override("old", -timedelta(hours=1)))
    assert await ro.revoke("old", "alice") is True
    stored = await ro.get("old")
    assert stored is not None
    assert stored.revoked_by == "alice"


async def test_concurrent_revokes_have_one_winner(backend: PersistenceBackend) -> None:
    ro = backend.risk_overrides
    await ro.save(risk_override("o1", timedelta(hours=1)))
    await ro.save(risk_override("o2", timedelta(hours=1)))
    who = [f"admin-{i:02d}" for i in range(RACERS)]
    results = await asyncio.gather(*(ro.revoke("o1", w) for w in who))
    assert results.count(True) == 1
    stored = await ro.get("o1")
    assert stored is not None
    assert stored.revoked_by == who[results.index(True)]
    assert ids(await ro.list_active()) == ["o2"]


@pytest.mark.parametrize(
    "decision", [SsrfViolationStatus.ALLOWED, SsrfViolationStatus.DENIED]
)
async def test_update_status_decides_a_pending_violation_once(
    backend: PersistenceBackend, decision: SsrfViolationStatus
) -> None:
    sv = backend.ssrf_violations
    original = violation("v1", 0)
    await sv.append(original)
    await sv.append(violation("v2", 1))
    before = datetime.now(UTC)
    assert await sv.update_status("v1", decision) is True
    after = datetime.now(UTC)
    decided = await sv.query(SsrfViolationFilterSpec(status=decision))
    assert ids(decided) == ["v1"]
    assert decided[0].resolved_at is not None
    assert before - timedelta(seconds=1) <= decided[0].resolved_at <= after
    undone = {"status": SsrfViolationStatus.PENDING, "resolved_at": None}
    assert decided[0].model_copy(update=undone) == original
    pending = await sv.query(
        SsrfViolationFilterSpec(status=SsrfViolationStatus.PENDING)
    )
    assert ids(pending) == ["v2"]
    # Already decided: neither decision applies again.
    for again in (SsrfViolationStatus.ALLOWED, SsrfViolationStatus.DENIED):
        assert await sv.update_status("v1", again) is False
    assert await sv.query(SsrfViolationFilterSpec(status=decision)) == decided


async def test_update_status_refuses_a_non_decision(
    backend: PersistenceBackend,
) -> None:
    sv = backend.ssrf_violations
    original = violation("v1", 0)
    await sv.append(original)
    with pytest.raises(QueryError):
        await sv.update_status("v1", SsrfViolationStatus.PENDING)
    assert await sv.query(SsrfViolationFilterSpec()) == (original,)


async def test_update_status_of_unknown_or_appended_decided_is_false(
    backend: PersistenceBackend,
) -> None:
    sv = backend.ssrf_violations
    assert await sv.update_status("ghost", SsrfViolationStatus.DENIED) is False
    decided = violation("v1", 0, status=SsrfViolationStatus.DENIED, resolved_at=T0)
    await sv.append(decided)
    assert await sv.update_status("v1", SsrfViolationStatus.ALLOWED) is False
    assert await sv.query(SsrfViolationFilterSpec()) == (decided,)


async def test_concurrent_decisions_have_one_winner(
    backend: PersistenceBackend,
) -> None:
    sv = backend.ssrf_violations
    await sv.append(violation("v1", 0))
    decisions = [
        SsrfViolationStatus.ALLOWED if i % 2 else SsrfViolationStatus.DENIED
        for i in range(RACERS)
    ]
    results = await asyncio.gather(*(sv.update_status("v1", d) for d in decisions))
    assert results.count(True) == 1
    (stored,) = await sv.query(SsrfViolationFilterSpec())
    assert stored.status == decisions[results.index(True)]


async def test_mark_interrupted_changes_only_running_runs(
    backend: PersistenceBackend,
) -> None:
    runs = backend.fine_tune_runs
    statuses = {
        "a": FineTuneStatus.RUNNING,
        "b": FineTuneStatus.PENDING,
        "c": FineTuneStatus.RUNNING,
        "d": FineTuneStatus.COMPLETED,
        "e": FineTuneStatus.RUNNING,
        "f": FineTuneStatus.FAILED,
    }
    for i, (run_id, status) in enumerate(statuses.items()):
        await runs.save(run(run_id, status, i))
    before = datetime.now(UTC)
    assert await runs.mark_interrupted() == 3
    for i, (run_id, status) in enumerate(statuses.items()):
        got = await runs.get(run_id)
        assert got is not None
        if status is FineTuneStatus.RUNNING:
            assert got.status is FineTuneStatus.INTERRUPTED
            assert got.updated_at >= before - timedelta(seconds=1)
        else:
            assert got == run(run_id, status, i)  # untouched
    assert await runs.get_active_run() is None
    assert await runs.mark_interrupted() == 0


async def test_deactivate_all_clears_the_active_checkpoint(
    backend: PersistenceBackend,
) -> None:
    ids = await with_checkpoints(backend, 2)
    repo = backend.fine_tune_checkpoints
    assert await repo.deactivate_all() == 0
    await repo.set_active(ids[1])
    assert await repo.deactivate_all() == 1
    assert await repo.get_active_checkpoint() is None
    assert await repo.deactivate_all() == 0


async def test_mark_consumed_true_once_then_false(backend: PersistenceBackend) -> None:
    repo = backend.oauth_states
    original = oauth_state("s1", code_verifier="v", expires_at=at_second(600))
    await repo.save(original)
    before = datetime.now(UTC)
    assert await repo.mark_consumed("s1", "conn-returned") is True
    after = datetime.now(UTC)
    stored = await repo.get("s1")
    assert stored is not None
    assert stored.consumed_at is not None
    assert stored.consumed_at.utcoffset() == timedelta(0)
    assert (
        before - timedelta(seconds=1)
        <= stored.consumed_at
        <= after + timedelta(seconds=1)
    )
    assert stored.connection_name_returned == "conn-returned"
    # Every other field is untouched.
    assert (
        stored.model_copy(
            update={"consumed_at": None, "connection_name_returned": None}
        )
        == original
    )

    assert await repo.mark_consumed("s1", "someone-else") is False
    assert await repo.get("s1") == stored


async def test_mark_consumed_of_a_missing_or_already_consumed_state(
    backend: PersistenceBackend,
) -> None:
    repo = backend.oauth_states
    assert await repo.mark_consumed("missing", "x") is False
    assert await repo.get("missing") is None
    consumed = oauth_state(
        "s1", consumed_at=at_second(0), connection_name_returned="earlier"
    )
    await repo.save(consumed)
    assert await repo.mark_consumed("s1", "later") is False
    assert await repo.get("s1") == consumed


async def test_mark_consumed_with_no_connection_name(
    backend: PersistenceBackend,
) -> None:
    repo = backend.oauth_states
    await repo.save(oauth_state("s1"))
    assert await repo.mark_consumed("s1", None) is True
    stored = await repo.get("s1")
    assert stored is not None
    assert stored.consumed_at is not None
    assert stored.connection_name_returned is None
    assert await repo.mark_consumed("s1", "late") is False


async def test_mark_consumed_touches_only_its_token(
    backend: PersistenceBackend,
) -> None:
    repo = backend.oauth_states
    await repo.save(oauth_state("s1"))
    await repo.save(oauth_state("s2"))
    assert await repo.mark_consumed("s1", "c") is True
    other = await repo.get("s2")
    assert other is not None
    assert other.consumed_at is None
    assert other.connection_name_returned is None
    assert await repo.mark_consumed("s2", "d") is True


async def test_update_status_sets_status_and_error(backend: PersistenceBackend) -> None:
    repo = backend.webhook_receipts
    original = receipt("r1", payload={"a": 1})
    await repo.save(original)
    await repo.save(receipt("r2"))
    assert await repo.update_status("r1", WebhookStatus.FAILED, "boom") is True
    assert await repo.get("r1") == original.model_copy(
        update={"status": WebhookStatus.FAILED, "error": "boom"}
    )
    assert await repo.update_status("r1", WebhookStatus.PROCESSED, None) is True
    assert await repo.get("r1") == original.model_copy(
        update={"status": WebhookStatus.PROCESSED, "error": None}
    )
    assert await repo.get("r2") == receipt("r2")


async def test_update_status_of_a_missing_receipt(backend: PersistenceBackend) -> None:
    assert (
        await backend.webhook_receipts.update_status("nope", WebhookStatus.FAILED, "x")
        is False
    )
    assert await backend.webhook_receipts.get("nope") is None


async def test_update_status_if_current_compares_and_sets(
    backend: PersistenceBackend,
) -> None:
    repo = backend.webhook_receipts
    await repo.save(receipt("r1", error="kept"))
    assert (
        await repo.update_status_if_current(
            "r1", WebhookStatus.PROCESSED, WebhookStatus.PROCESSING
        )
        is False
    )
    assert await repo.get("r1") == receipt("r1", error="kept")
    assert (
        await repo.update_status_if_current(
            "r1", WebhookStatus.PROCESSING, WebhookStatus.RECEIVED
        )
        is True
    )
    assert await repo.get("r1") == receipt(
        "r1", error="kept", status=WebhookStatus.PROCESSING
    )
    # The old expectation no longer holds.
    assert (
        await repo.update_status_if_current(
            "r1", WebhookStatus.IGNORED, WebhookStatus.RECEIVED
        )
        is False
    )
    assert (
        await repo.update_status_if_current(
            "r1", WebhookStatus.PROCESSED, WebhookStatus.PROCESSING
        )
        is True
    )
    stored = await repo.get("r1")
    assert stored is not None
    assert stored.status is WebhookStatus.PROCESSED
    assert (
        await repo.update_status_if_current(
            "missing", WebhookStatus.PROCESSED, WebhookStatus.RECEIVED
        )
        is False
    )
