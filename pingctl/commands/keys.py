"""``pingctl keys show``: a group of its own (``pingctl keys``) with one command, which prints
what ``pingctl.trust.key_text`` gives."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="pingctl's own CURVE key pair, for daemons that admit listed clients only.")

Cert = Annotated[
    bool, typer.Option("--cert", help="Print a certificate file for the daemon's --allow-clients directory.")
]


@app.command("show")
def show(cert: Cert = False) -> None:
    """Print this client's public key (made on first use), to hand to a daemon's operator."""
    from pingctl import trust

    print(trust.key_text(cert=cert), end="")
