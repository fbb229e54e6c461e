"""Who may do what: users, API tokens, browser sessions and one-time sign-in links, with roles and tenants.

Secrets (tokens, session ids, sign-in links, passwords) are stored only as hashes and never logged;
the API's middleware turns a request's bearer token or session cookie into a ``Principal``.
"""

from v6ops.auth.credentials import (
    AuthError,
    Principal,
    Role,
    authenticate_secret,
    create_token,
    create_user,
    ensure_first_admin,
    list_tokens,
    list_users,
    revoke_token,
)

__all__ = [
    "AuthError", "Principal", "Role", "authenticate_secret", "create_token", "create_user", "ensure_first_admin",
    "list_tokens", "list_users", "revoke_token",
]
