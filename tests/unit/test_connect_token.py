"""The Connect server's token on the client side (no server, no Spark): where --remote finds it,
what address it connects to, and which token files it refuses."""

from __future__ import annotations

import os

import pytest

from flowmosaic.errors import ConfigError
from flowmosaic.spark import connect_token as cs


@pytest.fixture
def tmpdir_tokens(tmp_path, monkeypatch):
    """The default pid and token files under tmp_path; no token in the environment."""
    monkeypatch.setattr(cs.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.delenv(cs.TOKEN_ENV, raising=False)
    return tmp_path


def test_the_token_file_is_created_owner_only_and_replaces_what_was_there(tmpdir_tokens):
    path = cs.token_file(cs.default_pid_file(15002))
    assert path == tmpdir_tokens / "flowmosaic-connect-15002.token"
    elsewhere = tmpdir_tokens / "elsewhere"
    elsewhere.write_text("keep me")
    path.symlink_to(elsewhere)  # a link planted where the token goes: replaced, not followed
    cs.write_token_file(path, "t0ken")
    assert not path.is_symlink() and elsewhere.read_text() == "keep me"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert cs.read_token_file(path) == "t0ken"
    assert len(cs.new_token()) >= 32 and cs.new_token() != cs.new_token()


def test_remote_on_loopback_finds_the_token_and_connects_to_localhost(tmpdir_tokens):
    cs.write_token_file(cs.token_file(cs.default_pid_file(15010)), "secret-1")
    assert cs.client_url("sc://127.0.0.1:15010") == ("sc://localhost:15010/", "secret-1")
    assert cs.client_url("sc://localhost:15010/;user_id=me") == (
        "sc://localhost:15010/;user_id=me",
        "secret-1",
    )
    # no server of ours on that port, another host, or a token given: the address as it is
    assert cs.client_url("sc://127.0.0.1:15011") == ("sc://127.0.0.1:15011", None)
    assert cs.client_url("sc://db.example:15010") == ("sc://db.example:15010", None)
    # params without the slash pyspark wants get it
    assert cs.client_url("sc://127.0.0.1:15010;user_id=me") == (
        "sc://localhost:15010/;user_id=me",
        "secret-1",
    )
    given = "sc://localhost:15010/;token=mine"
    assert cs.client_url(given) == (given, None)


def test_a_token_in_the_environment_is_left_to_pyspark(tmpdir_tokens, monkeypatch):
    cs.write_token_file(cs.token_file(cs.default_pid_file(15010)), "secret-1")
    monkeypatch.setenv(cs.TOKEN_ENV, "from-env")
    assert cs.client_url("sc://127.0.0.1:15010") == ("sc://127.0.0.1:15010", None)


def test_a_token_file_others_can_read_is_refused(tmpdir_tokens):
    path = cs.token_file(cs.default_pid_file(15012))
    cs.write_token_file(path, "secret-2")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"other users can read or write it \(mode 644\)"):
        cs.client_url("sc://127.0.0.1:15012")
