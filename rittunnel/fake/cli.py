"""``rittunnel fake-api`` / ``python -m rittunnel.fake``: run the fake API in the foreground."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported in run(): the parser must stay cheap for `rittunnel --help`
    from .server import FakeService, Knobs


@dataclass(frozen=True)
class FakeApiOptions:
    """The command line of ``fake-api`` (the fields are :func:`add_arguments`'s)."""

    port: int = 0
    service: tuple[str, ...] = ()
    echo: bool = False
    expirationsec: int = 28797
    idle_sec: float = 900.0
    connect_delay: float = 0.0
    direct: bool = False
    page_max: int = 1000
    mfa: str | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="API port on 127.0.0.1 (default: any)")
    parser.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="ADDRESS=NAME:TYPE[:HOST:PORT]",
        help="a service relaying to HOST:PORT, e.g. "
        "80:00:00:00:01:02:03:04=pi-ssh:SSH:127.0.0.1:22; TYPE http/https needs HOST:PORT "
        "only for port proxies (it gets a reverse proxy by default)",
    )
    parser.add_argument(
        "--echo",
        action="store_true",
        help="also run an echo service as 80:00:00:00:00:00:00:01 (demo-echo)",
    )
    parser.add_argument("--expirationsec", type=int, default=28797, help="proxy lifetime")
    parser.add_argument(
        "--idle-sec",
        type=seconds,
        default=900.0,
        metavar="S",
        help="drop a proxy S seconds after its last connection closed (default: 900)",
    )
    parser.add_argument(
        "--connect-delay",
        type=seconds,
        default=0.0,
        metavar="S",
        help="every connect (REST and GraphQL) takes S seconds before it answers, as "
        "remote.it's do; login and listing do not wait (default: 0)",
    )
    parser.add_argument("--direct", action="store_true", help="hand out targets as proxies")
    parser.add_argument(
        "--page-max", type=int, default=1000, help="most devices per GraphQL devices page"
    )
    parser.add_argument(
        "--mfa",
        choices=("SMS_MFA", "SOFTWARE_TOKEN_MFA", "MFA_SETUP"),
        help="a two-factor account: password logins get this code and no token",
    )


def seconds(text: str) -> float:
    """An argparse type: a number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more)")
    return value


def knobs_from(args: FakeApiOptions) -> Knobs:
    """The fake's knobs as the command line sets them."""
    from .server import Knobs

    return Knobs(
        expirationsec=args.expirationsec,
        idle_sec=args.idle_sec,
        connect_delay=args.connect_delay,
        direct=args.direct,
        page_max=args.page_max,
        mfa=args.mfa,
    )


def parse_service(spec: str) -> FakeService:
    from .server import FakeService

    address, sep, rest = spec.partition("=")
    parts = rest.split(":")
    if not sep or len(parts) not in (2, 4):
        raise SystemExit(f"fake-api: --service {spec!r}: use ADDRESS=NAME:TYPE:HOST:PORT")
    target = (parts[2], int(parts[3])) if len(parts) == 4 else None
    return FakeService(address=address, name=parts[0], type=parts[1], target=target)


def run(args: FakeApiOptions) -> int:
    import trio

    from .server import (
        ACCESS_KEY_ID,
        ACCESS_SECRET,
        DEVELOPER_KEY,
        PASSWORD,
        USERNAME,
        FakeRemoteIt,
        FakeService,
    )
    from .target import serve_echo

    services = [parse_service(s) for s in args.service]
    knobs = knobs_from(args)

    async def main() -> None:
        fake = FakeRemoteIt(services, knobs=knobs)
        async with trio.open_nursery() as nursery:
            if args.echo:
                host, port = await nursery.start(serve_echo)
                fake.add_service(
                    FakeService("80:00:00:00:00:00:00:01", "demo-echo", "TCP", target=(host, port))
                )
            url = await nursery.start(fake.serve, "127.0.0.1", args.port)
            print(f"fake remote.it API at {url}", flush=True)
            print(f"fake remote.it GraphQL API at {fake.graphql_url}", flush=True)
            print(
                f"  export RITTUNNEL_API_URL={url} RITTUNNEL_GRAPHQL_URL={fake.graphql_url} "
                f"REMOTEIT_DEVELOPER_KEY={DEVELOPER_KEY} "
                f"REMOTEIT_USERNAME={USERNAME} REMOTEIT_PASSWORD={PASSWORD}",
                flush=True,
            )
            print(
                f"  access key: R3_ACCESS_KEY_ID={ACCESS_KEY_ID} "
                f"R3_SECRET_ACCESS_KEY={ACCESS_SECRET}",
                flush=True,
            )
            for s in fake.services.values():
                where = f"{s.target[0]}:{s.target[1]}" if s.target else "(reverse proxy)"
                print(f"  service {s.address} {s.name} {s.type} -> {where}", flush=True)

    try:
        trio.run(main)
    except KeyboardInterrupt:
        print("fake-api: stopped", file=sys.stderr)
    return 0
