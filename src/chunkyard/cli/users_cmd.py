"""`chunkyard users create|disable|enable` and `chunkyard api-keys create|list|revoke`:
accounts and their credentials for the service."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from chunkyard.cli.common import UsageError
from chunkyard.core.types import ChunkingError


def add_parsers(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    users = subparsers.add_parser("users", parents=parents, help="manage service users",
                                  description="Manage the service's users.")
    users_sub = users.add_subparsers(dest="users_command", metavar="{create,disable,enable}",
                                     required=True)
    create = users_sub.add_parser(
        "create", parents=parents, help="create a user",
        description="Create a user. The password is asked for on the terminal, or read from "
        "standard input with --password-stdin (first line).",
    )
    create.add_argument("username", metavar="USERNAME")
    create.add_argument("--admin", action="store_true", help="make the user an administrator")
    create.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input")
    create.set_defaults(handler=run_users_create)
    disable = users_sub.add_parser(
        "disable", parents=parents, help="disable a user and revoke all their credentials",
        description="Disable USERNAME: they can no longer sign in, and every session and API "
        "key of theirs is revoked at once (refused by every API process within 2 s).",
    )
    disable.add_argument("username", metavar="USERNAME")
    disable.set_defaults(handler=run_users_disable, disabled=True)
    enable = users_sub.add_parser(
        "enable", parents=parents, help="let a disabled user sign in again",
        description="Let USERNAME sign in again. Their revoked sessions and keys stay revoked.",
    )
    enable.add_argument("username", metavar="USERNAME")
    enable.set_defaults(handler=run_users_disable, disabled=False)

    keys = subparsers.add_parser("api-keys", parents=parents, help="manage API keys",
                                 description="Manage API keys for the HTTP API.")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="{create,list,revoke}",
                                   required=True)
    key = keys_sub.add_parser(
        "create", parents=parents, help="create an API key for a user (printed once)",
        description="Create an API key for USERNAME. The key is printed once and stored "
        "only as a hash: keep it now.",
    )
    key.add_argument("username", metavar="USERNAME")
    key.add_argument("--name", default="", help="what the key is for (shown by list)")
    key.set_defaults(handler=run_api_keys_create)
    listing = keys_sub.add_parser(
        "list", parents=parents, help="list a user's API keys",
        description="List USERNAME's API keys that are not revoked: id, prefix, name, "
        "created and last used (to about a minute). The keys themselves are not stored.",
    )
    listing.add_argument("username", metavar="USERNAME")
    listing.add_argument("--json", action="store_true", help="one JSON array")
    listing.set_defaults(handler=run_api_keys_list)
    revoke = keys_sub.add_parser(
        "revoke", parents=parents, help="revoke an API key",
        description="Revoke the API key KEY (its id or prefix, as `list` shows): it is "
        "refused by every API process within 2 s.",
    )
    revoke.add_argument("key", metavar="KEY")
    revoke.set_defaults(handler=run_api_keys_revoke)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise UsageError("the passwords do not match")
    else:
        raise UsageError("no terminal to ask for the password; use --password-stdin")
    if not password:
        raise UsageError("the password is empty")
    return password


def _service_errors(run: Any) -> Any:
    """The service's own errors (a taken name, an unknown user) as one line, exit 1."""

    def wrapped(args: argparse.Namespace) -> int:
        from chunkyard.kit.errors import ServiceError

        try:
            code: int = run(args)
            return code
        except ServiceError as exc:
            raise ChunkingError(str(exc)) from exc

    return wrapped


@_service_errors
def run_users_create(args: argparse.Namespace) -> int:
    from chunkyard.auth.service import cli_create_user
    from chunkyard.settings import get_settings

    password = _read_password(args.password_stdin)
    cli_create_user(get_settings(), args.username, password, args.admin)
    role = "administrator" if args.admin else "user"
    print(f"created {role} {args.username!r}")
    return 0


@_service_errors
def run_api_keys_create(args: argparse.Namespace) -> int:
    from chunkyard.auth.service import cli_create_api_key
    from chunkyard.settings import get_settings

    print(cli_create_api_key(get_settings(), args.username, args.name))
    return 0


@_service_errors
def run_users_disable(args: argparse.Namespace) -> int:
    from chunkyard.auth.service import cli_set_user_disabled
    from chunkyard.settings import get_settings

    cli_set_user_disabled(get_settings(), args.username, args.disabled)
    if args.disabled:
        print(f"disabled {args.username!r}: every session and API key of theirs is revoked")
    else:
        print(f"enabled {args.username!r}")
    return 0


def _when(value: Any) -> str:
    return "-" if value is None else value.isoformat(timespec="seconds")


@_service_errors
def run_api_keys_list(args: argparse.Namespace) -> int:
    import json

    from chunkyard.auth.service import cli_list_api_keys
    from chunkyard.settings import get_settings

    keys = cli_list_api_keys(get_settings(), args.username)
    if args.json:
        print(json.dumps([
            {"id": str(k.id), "prefix": k.prefix, "name": k.name,
             "created_at": _when(k.created_at),
             "last_used_at": None if k.last_used_at is None else _when(k.last_used_at)}
            for k in keys
        ], indent=2))
        return 0
    if not keys:
        print(f"{args.username!r} has no API keys")
        return 0
    print(f"{'ID':36}  {'PREFIX':12}  {'CREATED':25}  {'LAST USED':25}  NAME")
    for k in keys:
        print(f"{k.id!s:36}  {k.prefix:12}  {_when(k.created_at):25}  "
              f"{_when(k.last_used_at):25}  {k.name}")
    return 0


@_service_errors
def run_api_keys_revoke(args: argparse.Namespace) -> int:
    from chunkyard.auth.service import cli_revoke_api_key
    from chunkyard.settings import get_settings

    key = cli_revoke_api_key(get_settings(), args.key)
    print(f"revoked API key {key.id} (cky_{key.prefix}_...)")
    return 0
