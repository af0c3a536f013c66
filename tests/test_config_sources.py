"""Configuration from where operators keep it: a DSN, the environment, a file.

``PostgresConfig.from_dsn`` (URL and libpq keyword forms) and
``PersistenceConfig.from_env``: every component lands in its field, unknown
parameters and contradictions are refused by name, and the password never
appears in an error or a repr. Pickling stays refused and the JSON mask is
still refused as a password (issue 9).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthorg.persistence import PersistenceConfig, PostgresConfig
from synthorg.persistence.config import ENV_VARIABLES, SECRET_MASK

SECRET = "p@ss:w/rd?#&=% é"


def _url(password: str = SECRET, query: str = "") -> str:
    return f"postgresql://alice:{quote(password, safe='')}@db.example:6543/app{query}"


# ---------------------------------------------------------------- from_dsn


def test_url_components_map_to_fields() -> None:
    config = PostgresConfig.from_dsn(
        _url(query="?sslmode=verify-full&application_name=api%20v2&connect_timeout=7")
    )
    assert (config.host, config.port, config.database, config.username) == (
        "db.example",
        6543,
        "app",
        "alice",
    )
    assert config.password.get_secret_value() == SECRET
    assert config.ssl_mode == "verify-full"
    assert config.application_name == "api v2"
    assert config.connect_timeout_seconds == 7
    assert SECRET not in repr(config) and quote(SECRET, safe="") not in repr(config)


def test_postgres_scheme_ipv6_default_port_and_settings() -> None:
    config = PostgresConfig.from_dsn(
        "postgres://bob:pw@[::1]/db%2Fname", pool_max_size=3
    )
    assert (config.host, config.port, config.database) == ("::1", 5432, "db/name")
    assert config.pool_max_size == 3


def test_libpq_keyword_form() -> None:
    config = PostgresConfig.from_dsn(
        "host=127.0.0.1 port=5433 dbname=app user=carol "
        r"password='it\'s a \\secret' sslmode=disable"
    )
    assert (config.host, config.port, config.database, config.username) == (
        "127.0.0.1",
        5433,
        "app",
        "carol",
    )
    assert config.password.get_secret_value() == "it's a \\secret"
    assert config.ssl_mode == "disable"


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        (_url(query="?sslmode=require&options=-c%20x&foo=1"), "unknown parameter"),
        ("host=h dbname=d user=u password=S3cr3t! bogus=1", "'bogus'"),
        (_url(query="?sslmode=a&sslmode=b"), "given twice"),
        ("postgresql://alice:S3cr3t!@h:5432", "no database"),
        ("postgresql://:S3cr3t!@h/db", "no user"),
        ("postgresql://alice@h/db", "no password"),
        ("mysql://alice:S3cr3t!@h/db", "only postgresql://"),
        ("postgresql://alice:S3cr3t!@h:port/db", "port must be a whole number"),
        ("postgresql://alice:S3cr3t!@h1,h2/db", "several hosts"),
        ("postgresql://alice:S3c/r3t!@h/db", "percent-encode"),
        ("postgresql://alice:S3c?r3t!@h/db", "percent-encode"),
        ("postgresql://alice:S3c#r3t!@h/db", "percent-encode"),
        ("host=h dbname=d user=u password='S3cr3t!", "unterminated"),
    ],
)
def test_refused_dsns_name_the_problem_never_the_password(
    dsn: str, expected: str
) -> None:
    with pytest.raises(ValueError) as caught:
        PostgresConfig.from_dsn(dsn)
    message = str(caught.value)
    assert expected in message
    for piece in ("S3cr3t", "r3t!", "S3c"):
        assert piece not in message, message


def test_unknown_query_parameter_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown parameter 'target_session_attrs'"):
        PostgresConfig.from_dsn(_url(query="?target_session_attrs=any"))


def test_bad_value_is_refused_without_echo() -> None:
    with pytest.raises(ValueError) as caught:
        PostgresConfig.from_dsn(_url(query="?sslmode=sometimes"))
    assert "ssl_mode" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_password_given_separately_or_twice() -> None:
    config = PostgresConfig.from_dsn("postgresql://alice@h/db", password="from-file")
    assert config.password.get_secret_value() == "from-file"
    with pytest.raises(ValueError, match="both in the DSN and separately"):
        PostgresConfig.from_dsn(_url(), password="from-file")


def test_issue_9_guards_still_hold_for_dsn_configs() -> None:
    with pytest.raises(ValueError, match="redaction mask"):
        PostgresConfig.from_dsn(f"postgresql://alice:{SECRET_MASK}@h/db")
    config = PostgresConfig.from_dsn(_url())
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(config)


_NAME = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\x7f"),
    min_size=1,
    max_size=20,
).filter(lambda s: s.strip() != "")
_HOST = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,15}(\.[a-z]{2,6}){0,2}", fullmatch=True),
    st.sampled_from(["127.0.0.1", "::1", "fe80::1", "10.0.0.7"]),
)


@settings(max_examples=150, deadline=None)
@given(
    user=_NAME,
    # A DSN is UTF-8 text: a lone surrogate cannot be written into one.
    password=st.text(
        st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
        max_size=30,
    ).filter(lambda s: s != SECRET_MASK),
    host=_HOST,
    port=st.integers(1, 65535),
    database=_NAME,
    sslmode=st.sampled_from(
        ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
    ),
    app=_NAME,
    timeout=st.integers(1, 3600),
    scheme=st.sampled_from(["postgresql", "postgres"]),
)
def test_from_dsn_round_trips_generated_components(
    user: str,
    password: str,
    host: str,
    port: int,
    database: str,
    sslmode: str,
    app: str,
    timeout: int,
    scheme: str,
) -> None:
    netloc_host = f"[{host}]" if ":" in host else host
    url = (
        f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@"
        f"{netloc_host}:{port}/{quote(database, safe='')}?sslmode={sslmode}"
        f"&application_name={quote(app, safe='')}&connect_timeout={timeout}"
    )

    def kw(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    keywords = (
        f"host={kw(host)} port={port} dbname={kw(database)} user={kw(user)} "
        f"password={kw(password)} sslmode={sslmode} application_name={kw(app)} "
        f"connect_timeout={timeout}"
    )
    for dsn in (url, keywords):
        config = PostgresConfig.from_dsn(dsn)
        assert config.username == user
        assert config.password.get_secret_value() == password
        assert config.host == host
        assert config.port == port
        assert config.database == database
        assert config.ssl_mode == sslmode
        assert config.application_name == app
        assert config.connect_timeout_seconds == timeout


# ---------------------------------------------------------------- from_env


def test_env_nothing_set_is_the_default_sqlite() -> None:
    assert PersistenceConfig.from_env({}) == PersistenceConfig()
    config = PersistenceConfig.from_env({"SYNTHORG_SQLITE_PATH": "data/a.db"})
    assert (config.backend, config.sqlite.path) == ("sqlite", "data/a.db")


def test_env_postgres_parts_with_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("line-one\n\n", encoding="utf-8")  # one newline stripped
    config = PersistenceConfig.from_env(
        {
            "SYNTHORG_PG_HOST": "db",
            "SYNTHORG_PG_PORT": "6000",
            "SYNTHORG_PG_DATABASE": "app",
            "SYNTHORG_PG_USER": "svc",
            "SYNTHORG_PG_SSLMODE": "require",
            "SYNTHORG_PG_PASSWORD_FILE": str(secret),
            "UNRELATED": "x",
        }
    )
    pg = config.postgres
    assert config.backend == "postgres" and pg is not None
    assert (pg.host, pg.port, pg.database, pg.username, pg.ssl_mode) == (
        "db",
        6000,
        "app",
        "svc",
        "require",
    )
    assert pg.password.get_secret_value() == "line-one\n"


def test_env_dsn_with_password_variable() -> None:
    config = PersistenceConfig.from_env(
        {
            "SYNTHORG_DB_DSN": "postgresql://svc@db/app",
            "SYNTHORG_PG_PASSWORD": "pw",
            "SYNTHORG_SQLITE_PATH": "",  # empty counts as unset
        }
    )
    assert config.postgres is not None
    assert config.postgres.password.get_secret_value() == "pw"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {
                "SYNTHORG_DB_DSN": "postgresql://u@h/d",
                "SYNTHORG_PG_PASSWORD": "S3cr3t!",
                "SYNTHORG_PG_PASSWORD_FILE": "/nonexistent",
            },
            "not both",
        ),
        (
            {"SYNTHORG_DB_DSN": "postgresql://u:S3cr3t!@h/d", "SYNTHORG_PG_HOST": "h"},
            "are both set",
        ),
        (
            {
                "SYNTHORG_DB_DSN": "postgresql://u:S3cr3t!@h/d",
                "SYNTHORG_SQLITE_PATH": "a",
            },
            "SYNTHORG_DB_BACKEND",
        ),
        (
            {"SYNTHORG_PG_USER": "u", "SYNTHORG_PG_PASSWORD": "S3cr3t!"},
            "SYNTHORG_PG_DATABASE",
        ),
        ({"SYNTHORG_PG_USER": "u", "SYNTHORG_PG_DATABASE": "d"}, "PASSWORD"),
        (
            {
                "SYNTHORG_PG_USER": "u",
                "SYNTHORG_PG_DATABASE": "d",
                "SYNTHORG_PG_PORT": "S3cr3t!",
                "SYNTHORG_PG_PASSWORD": "x",
            },
            "whole number",
        ),
        ({"SYNTHORG_DB_BACKEND": "oracle"}, "unknown persistence backend"),
        (
            {
                "SYNTHORG_DB_BACKEND": "postgres",
                "SYNTHORG_PG_PASSWORD_FILE": "/no/such",
            },
            "cannot read",
        ),
    ],
)
def test_env_contradictions_are_refused(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ValueError) as caught:
        PersistenceConfig.from_env(env)
    assert expected in str(caught.value)
    assert "S3cr3t" not in str(caught.value)


def test_env_reads_os_environ_and_documents_its_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNTHORG_SQLITE_PATH", "from-env.db")
    assert PersistenceConfig.from_env().sqlite.path == "from-env.db"
    docs = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    for name in ENV_VARIABLES:
        assert f"`{name}`" in docs, name
