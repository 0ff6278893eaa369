"""`chunkyard users create` and `chunkyard api-keys create`: accounts for the service."""

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
    users_sub = users.add_subparsers(dest="users_command", metavar="{create}", required=True)
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

    keys = subparsers.add_parser("api-keys", parents=parents, help="manage API keys",
                                 description="Manage API keys for the HTTP API.")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="{create}", required=True)
    key = keys_sub.add_parser(
        "create", parents=parents, help="create an API key for a user (printed once)",
        description="Create an API key for USERNAME. The key is printed once and stored "
        "only as a hash: keep it now.",
    )
    key.add_argument("username", metavar="USERNAME")
    key.set_defaults(handler=run_api_keys_create)


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

    print(cli_create_api_key(get_settings(), args.username))
    return 0
