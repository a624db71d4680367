"""`safecity serve`: the data service for downstream platforms on uvicorn (see docs/data-service.md); `safecity
board`: the live command board (see docs/board.md)."""
from __future__ import annotations

from pathlib import Path

import typer

from safecity.orchestration.cli_options import EnvOption, HomeOption, settings_or_exit as _settings


def serve(env: str = EnvOption, home: Path = HomeOption,
          host: str = typer.Option("127.0.0.1", help="Listen address."),
          port: int = typer.Option(8180, help="Listen port."),
          clients: Path = typer.Option(None, help="Clients file (default: the site's clients.yaml)."),
          new_secret: bool = typer.Option(False, "--new-secret",
                                          help="Print a new client secret and the hash for the clients file, then exit.")) -> None:
    """数据服务 / Serve the gold tables to downstream platforms (tokens, scopes, masking, audit)."""
    from safecity.service.clients import load_clients, new_secret as make_secret
    if new_secret:
        secret, hashed = make_secret()
        typer.echo(f"client_secret (give it to the client once / 仅交付客户端一次): {secret}\nsecret_hash: {hashed}")
        return
    import uvicorn

    from safecity.lakehouse.catalog import open_catalog
    from safecity.service.app import create_app
    from safecity.service.tokens import signing_key
    settings = _settings(env, home)
    app = create_app(open_catalog(settings), load_clients(settings, clients), signing_key(settings))
    uvicorn.run(app, host=host, port=port, log_level="info")


def board(env: str = EnvOption, home: Path = HomeOption,
          host: str = typer.Option("127.0.0.1", help="Listen address."),
          port: int = typer.Option(8190, help="Listen port."),
          poll: float = typer.Option(0.2, min=0.05, help="Seconds between looks at the outbox's snapshot.")) -> None:
    """指挥大屏 / Serve the live command board: open incidents, dispatches, cameras down, congestion, latest actions."""
    import uvicorn

    from safecity.lakehouse.catalog import open_catalog
    from safecity.service.board_app import create_board_app
    settings = _settings(env, home)
    # Open pages keep their streams open: do not wait for them on Ctrl-C.
    uvicorn.run(create_board_app(open_catalog(settings), settings, poll=poll), host=host, port=port, log_level="info",
                timeout_graceful_shutdown=2)
