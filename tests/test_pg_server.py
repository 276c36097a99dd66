"""The test PostgreSQL server: started on loopback as an unprivileged user, one fresh database per test."""

from __future__ import annotations

from pgserver import postgres_dsn, postgres_server  # noqa: F401 - fixtures


def test_each_test_gets_its_own_empty_database(postgres_server, postgres_dsn):
    import psycopg

    with psycopg.connect(postgres_dsn) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
        owner = conn.execute("SELECT usename FROM pg_stat_activity WHERE pid = pg_backend_pid()").fetchone()[0]
    assert tables == 0, "the fresh database already holds tables"
    assert postgres_dsn != postgres_server.new_database(), "two tests were given the same database"
    assert owner == "naswot", f"connected as {owner!r}, not the test user"


def test_the_server_listens_on_loopback_only(postgres_server):
    import psycopg

    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        listen = conn.execute("SHOW listen_addresses").fetchone()[0]
    assert listen == "127.0.0.1", f"the test server listens on {listen!r}"
