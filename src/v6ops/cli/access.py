"""``v6ops token`` and ``v6ops user``: API tokens and dashboard users (same objects as /api/v1/auth).

A token's secret is printed once, by ``token create``, and is stored only as a hash.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from v6ops.auth import credentials
from v6ops.auth.credentials import AuthError, Role
from v6ops.cli.output import JsonOption, console, emit, err_console, fail, print_json, print_table
from v6ops.settings import Settings, SettingsError, load_settings
from v6ops.store.db import Store, StoreError, open_store

token_app = typer.Typer(help="API tokens: create (printed once), list, revoke.", no_args_is_help=True)
user_app = typer.Typer(help="Dashboard users and one-time sign-in links.", no_args_is_help=True)
RoleOption = typer.Option(..., "--role", help="admin, operator or viewer.")
TenantOption = typer.Option(None, "--tenant", help="Limit to one tenant's subscribers, devices and pools.")


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except (AuthError, SettingsError, StoreError) as exc:
        fail(str(exc))


def _store() -> Store:
    return open_store(load_settings().resolved_database_url())


def _tokens_table(rows: list[dict[str, Any]]) -> None:
    print_table("API tokens", ["id", "name", "role", "tenant", "status", "created", "expires", "last used"],
                [(r["id"], r["name"], r["role"], r["tenant"] or "", r["status"], r["created_at"], r["expires_at"] or "never",
                  r["last_used_at"] or "never") for r in rows])


@token_app.command("create")
def token_create(
    name: str = typer.Argument(..., help="What the token is for, e.g. 'prometheus' or 'provisioning-bot'."),
    role: str = RoleOption, tenant: str = TenantOption,
    expires: str = typer.Option(None, "--expires", help="Lifetime such as 30d, 12h, 2w (default: never)."),
    as_json: bool = JsonOption,
) -> None:
    """Create a token and print its secret, once."""
    with _errors():
        lifetime = credentials.parse_duration(expires) if expires else None
        secret, view = credentials.create_token(_store(), name, Role.parse(role), tenant, lifetime)
    if as_json:
        print_json({**view, "token": secret})
        return
    sys.stdout.write(secret + "\n")
    err_console.print(f"token {view['id']} ({view['role']}{', tenant ' + view['tenant'] if view['tenant'] else ''}) created; "
                      "this is the only time its secret is shown", highlight=False)


@token_app.command("list")
def token_list(as_json: bool = JsonOption) -> None:
    """Every API token with its status and last use (never the secret)."""
    with _errors():
        rows = credentials.list_tokens(_store())
    emit(rows, as_json, _tokens_table)


@token_app.command("revoke")
def token_revoke(token_id: int = typer.Argument(..., help="The id from 'v6ops token list'."), as_json: bool = JsonOption) -> None:
    """Revoke a token (running servers stop accepting it within auth_cache_seconds)."""
    with _errors():
        view = credentials.revoke_token(_store(), token_id)
    emit([view], as_json, _tokens_table)


def _users_table(rows: list[dict[str, Any]]) -> None:
    print_table("users", ["id", "name", "role", "tenant", "password", "disabled", "created"],
                [(r["id"], r["name"], r["role"], r["tenant"] or "", "set" if r["has_password"] else "none",
                  r["disabled"], r["created_at"]) for r in rows])


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@user_app.command("add")
def user_add(name: str, role: str = RoleOption, tenant: str = TenantOption,
             password: bool = typer.Option(False, "--password", help="Ask for a password (else sign-in links only)."),
             password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
             as_json: bool = JsonOption) -> None:
    """Create a dashboard user."""
    secret = _read_password(password_stdin) if password or password_stdin else None
    with _errors():
        view = credentials.create_user(_store(), name, Role.parse(role), tenant, secret)
    emit([view], as_json, _users_table)


@user_app.command("list")
def user_list(as_json: bool = JsonOption) -> None:
    """Every dashboard user."""
    with _errors():
        rows = credentials.list_users(_store())
    emit(rows, as_json, _users_table)


@user_app.command("passwd")
def user_passwd(name: str, password_stdin: bool = typer.Option(False, "--password-stdin"), as_json: bool = JsonOption) -> None:
    """Set a user's password (ends the user's browser sessions)."""
    secret = _read_password(password_stdin)
    with _errors():
        view = credentials.set_password(_store(), name, secret)
    emit([view], as_json, _users_table)


def sign_in_url(settings: Settings, secret: str) -> str:
    if settings.public_url:
        base = settings.public_url.rstrip("/")
    else:
        host = settings.listen[0] if settings.listen else "::1"
        host = {"::": "::1", "0.0.0.0": "127.0.0.1"}.get(host, host)
        base = f"http://{'[' + host + ']' if ':' in host else host}:{settings.port}"
    return f"{base}/login?token={secret}"


@user_app.command("sign-in-link")
def user_sign_in_link(name: str, as_json: bool = JsonOption) -> None:
    """Print a one-time sign-in URL for the user (valid 24 h, works once)."""
    with _errors():
        settings = load_settings()
        secret = credentials.create_sign_in_link(open_store(settings.resolved_database_url()), name)
    url = sign_in_url(settings, secret)
    emit({"user": name, "url": url}, as_json, lambda o: console.print(o["url"], highlight=False, soft_wrap=True))
