"""PostgreSQL settings: control characters, the operation timeout, the password.

The password must not be recoverable from anything that is logged, pickled
or captured: the pool's keyword arguments, ``repr``/``str``, a pickle, a
JSON dump, or the local variables of the frames of a connection error's
traceback (error trackers capture those). A JSON round trip preserves the
password under an explicit context, and otherwise refuses the mask instead
of silently turning the password into ``"**********"``.
"""

from __future__ import annotations

import contextlib
import pickle
import secrets
from collections.abc import Iterator
from types import MappingProxyType, TracebackType
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from synthorg.persistence import (
    PersistenceAuthenticationError,
    PersistenceConfig,
    PersistenceConnectionError,
    PostgresConfig,
    SQLiteConfig,
    create_backend,
)
from synthorg.persistence.config import REVEAL_SECRETS, SECRET_MASK
from tests.support.pgserver import PgServer

PASSWORD = "s3cr3t-hunter2"  # a test fixture, not a real secret
NAME_FIELDS = ("host", "database", "username", "application_name")
CONTROL = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))]


def pg(**overrides: Any) -> PostgresConfig:
    fields: dict[str, Any] = {
        "database": "synthorg",
        "username": "app",
        "password": PASSWORD,
    }
    fields.update(overrides)
    return PostgresConfig(**fields)


# ---------------------------------------------------------------------------
# Control characters in names; the operation timeout
# ---------------------------------------------------------------------------

_printable = st.text(
    st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=20
).filter(lambda text: text.strip() != "")
_tail = st.text(st.characters(exclude_categories=["Cs"]), max_size=5)


@given(
    field=st.sampled_from(NAME_FIELDS),
    before=_printable,
    control=st.sampled_from(CONTROL),
    after=_tail,
)
# Once failed CI: a NUL in the tail is refused (as NUL) before the \x01.
@example(field="host", before="0", control="\x01", after="\x00")
def test_control_characters_in_names_are_refused(
    field: str, before: str, control: str, after: str
) -> None:
    value = before + control + after
    with pytest.raises(ValidationError) as info:
        pg(**{field: value})
    message = str(info.value)
    if "\x00" in value:
        # NotBlankStr refuses NUL first (at this field's location), wherever
        # it is: the tail may hold one after another control character.
        assert info.value.errors()[0]["loc"] == (field,)
        assert "must not contain NUL" in message
        return
    assert f"{field} must not contain control characters" in message
    assert repr(control) in message


@given(field=st.sampled_from(NAME_FIELDS), value=_printable)
def test_names_without_control_characters_are_kept(field: str, value: str) -> None:
    assert getattr(pg(**{field: value}), field) == value


def test_nul_in_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as info:
        pg(password="abc\x00" + PASSWORD)
    assert "password must not contain NUL" in str(info.value)
    assert PASSWORD not in str(info.value)
    with pytest.raises(ValidationError) as nested:
        PersistenceConfig.model_validate(
            {
                "backend": "postgres",
                "postgres": {
                    "database": "d",
                    "username": "u",
                    "password": "abc\x00" + PASSWORD,
                },
            }
        )
    assert PASSWORD not in str(nested.value)


def test_operation_timeout_default_and_validation() -> None:
    config = pg()
    assert config.operation_timeout_seconds == 35.0
    # Above the server's statement_timeout, so a slow statement is cancelled
    # by the server (connection kept) before the client gives up on it.
    assert config.operation_timeout_seconds * 1000 > config.statement_timeout_ms
    assert pg(operation_timeout_seconds=0.5).operation_timeout_seconds == 0.5
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValidationError):
            pg(operation_timeout_seconds=bad)


# ---------------------------------------------------------------------------
# Pickle and JSON
# ---------------------------------------------------------------------------


def test_config_holding_a_password_refuses_pickling() -> None:
    config = pg()
    for value in (config, PersistenceConfig(backend="postgres", postgres=config)):
        with pytest.raises(TypeError, match="cannot be pickled") as info:
            pickle.dumps(value)
        assert PASSWORD not in str(info.value)
    # Nothing else changed: a SQLite-only config still pickles.
    plain = PersistenceConfig(sqlite=SQLiteConfig(path="x.db"))
    assert pickle.loads(pickle.dumps(plain)) == plain


def test_json_round_trip_refuses_the_mask_and_preserves_on_request() -> None:
    config = PersistenceConfig(backend="postgres", postgres=pg())
    masked = config.model_dump_json()
    assert PASSWORD not in masked and SECRET_MASK in masked
    with pytest.raises(ValidationError, match="redaction mask") as info:
        PersistenceConfig.model_validate_json(masked)
    assert PASSWORD not in str(info.value)
    revealed = config.model_dump_json(context={REVEAL_SECRETS: True})
    assert PASSWORD in revealed
    again = PersistenceConfig.model_validate_json(revealed)
    assert again == config
    assert again.postgres is not None
    assert again.postgres.password.get_secret_value() == PASSWORD
    # Python-mode dumps keep the SecretStr object itself.
    assert PersistenceConfig.model_validate(config.model_dump()) == config


# ---------------------------------------------------------------------------
# The live backend: pool kwargs, reprs, pickle, traceback locals
# ---------------------------------------------------------------------------


def _texts(value: object, depth: int, seen: set[int]) -> Iterator[str]:
    """Every string reachable from ``value``: containers fully, objects a little.

    ``SecretStr`` is a leaf (its repr is the mask): the boundary under test
    is that the password exists nowhere else, in clear.
    """
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes | bytearray):
        yield bytes(value).decode("utf-8", "replace")
    elif isinstance(value, SecretStr):
        yield repr(value)
    elif isinstance(value, dict | MappingProxyType):
        for key, item in list(value.items()):
            yield from _texts(key, depth, seen)
            yield from _texts(item, depth, seen)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in list(value):
            yield from _texts(item, depth, seen)
    else:
        with contextlib.suppress(Exception):  # a broken repr hides nothing
            yield repr(value)
            yield str(value)
        if depth > 0:
            attributes = getattr(value, "__dict__", None)
            if isinstance(attributes, dict):
                yield from _texts(attributes, depth - 1, seen)
            for slot in getattr(type(value), "__slots__", ()):
                if isinstance(slot, str) and hasattr(value, slot):
                    yield from _texts(getattr(value, slot), depth - 1, seen)


def _captured(error: BaseException, catcher: object) -> Iterator[str]:
    """What an error tracker would capture: the chain, its frames' locals.

    The frame of ``catcher`` (the test itself, which knows the password) is
    left out.
    """
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        exc = pending.pop()
        if id(exc) in seen:
            continue
        yield from _texts(exc, 3, seen)
        tb: TracebackType | None = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code is not catcher:
                yield from _texts(dict(tb.tb_frame.f_locals), 3, seen)
            tb = tb.tb_next
        pending += [e for e in (exc.__cause__, exc.__context__) if e is not None]


def _config(server: PgServer, database: str, password: str) -> PersistenceConfig:
    return PersistenceConfig(
        backend="postgres",
        postgres=PostgresConfig(
            host=server.host,
            port=server.port,
            database=database,
            username=server.user,
            password=SecretStr(password),
            connect_timeout_seconds=5.0,
        ),
    )


@pytest.mark.parametrize("case", ["wrong password", "missing database"])
async def test_connect_error_traceback_locals_hold_no_password(
    pg_server: PgServer, pg_database: str, case: str
) -> None:
    if case == "wrong password":
        password = f"wrong-{secrets.token_hex(8)}"
        config = _config(pg_server, pg_database, password)
    else:
        password = pg_server.password
        config = _config(pg_server, "no_such_database", password)
    instance = create_backend(config)
    with pytest.raises(PersistenceConnectionError) as info:
        await instance.connect()
    catcher = test_connect_error_traceback_locals_hold_no_password.__code__
    texts = list(_captured(info.value, catcher))
    # The walk did see the backend's frames (the config is in their locals).
    assert any("statement_timeout_ms" in text for text in texts)
    leaks = [text[:200] for text in texts if password in text]
    assert not leaks
    assert isinstance(info.value, PersistenceAuthenticationError)


async def test_pool_kwargs_reprs_and_pickle_hold_no_password(
    pg_server: PgServer, pg_database: str
) -> None:
    instance = create_backend(_config(pg_server, pg_database, pg_server.password))
    await instance.connect()
    try:
        untyped: Any = instance
        pool = untyped.get_db()
        assert "password" not in pool.kwargs
        texts = list(_texts(pool, 3, set())) + list(_texts(instance, 3, set()))
        texts += [repr(instance), str(instance), repr(pool), str(pool)]
        assert not [text for text in texts if pg_server.password in text]
        with pytest.raises(TypeError, match="cannot be pickled") as info:
            pickle.dumps(instance)
        assert pg_server.password not in str(info.value)
        assert await instance.health_check() is True  # it does connect
    finally:
        await instance.disconnect()
