"""Choosing a daemon and deciding whether to trust it: the one place pingctl's commands reach
a daemon through, for one daemon or a fleet.

A daemon is given (``--server-ip``/``--port``) or found (mDNS, DNS-SD). A found daemon that
announces a CURVE key is vetted before anything is sent to it: a key given with
``--server-key`` must be the announced one; otherwise the key is checked against known_hosts
(``pingctl.trust``), and a name or node id pinned to another key is refused. A key not yet
pinned is pinned only after the daemon answered through a CURVE handshake with it, the proof
that it holds the secret half. In a fleet, a refused daemon is one row among the others, never
the end of the command.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import zmq

from pingctl import trust
from pingctl.client import PingClient, first_to_answer
from pingctl.connection import resolve_target
from pingctl.errors import NoAnswer, NoReply, PingctlError, PinRefused, explain, no_reply
from pingctl.find.found import Browsed, Found
from pingctl.limits import DISCOVER_WINDOW, MAX_DISCOVERY, check_seconds
from pingctl.show.text import shown
from pingd.shared.keys import KeyPair, is_key
from pingd.shared.protocol import DEFAULT_PORT, Status

if TYPE_CHECKING:
    from pingctl.fleet import DaemonStatus


@dataclass(frozen=True, slots=True)
class Wanted:
    """Which daemon the user asked for, as the command line says it."""

    server_ip: str | None = None
    port: int | None = None
    name: str | None = None
    domain: str | None = None
    interfaces: tuple[str, ...] = ()
    discovery_timeout: float = 3.0
    server_key: str | None = None


@dataclass(frozen=True, slots=True)
class WantedAll:
    """Every daemon discovery finds (``--all``), or those of them named (several ``--name``)."""

    names: tuple[str, ...] = ()
    interfaces: tuple[str, ...] = ()
    domain: str | None = None


@dataclass(frozen=True, slots=True)
class Unpinned:
    """A key to pin once the daemon has answered through it."""

    name: str
    node_id: str | None
    key: str


def connect(
    wanted: Wanted, timeout: float, *, quiet: bool, context: zmq.Context | None = None
) -> tuple[PingClient, Status]:
    """A client connected to the daemon ``wanted`` names (the first found, if it names none)
    that answered a status request, and that status."""
    if wanted.server_key is not None and not is_key(wanted.server_key):
        raise PingctlError("--server-key takes a 40-character Z85 CURVE public key (as pingd logs it)")
    if wanted.server_ip is not None:
        return _given(wanted, timeout, context)
    if wanted.port is not None:
        raise PingctlError("--port needs --server-ip (without an address, pingctl finds the daemon by mDNS)")
    check_seconds("--discovery-timeout", wanted.discovery_timeout, MAX_DISCOVERY)
    from pingctl.find import search

    candidates, how = search.find(wanted.name, wanted.discovery_timeout, wanted.interfaces, wanted.domain)
    if how == "DNS":
        return _first_registered(candidates, wanted, timeout, quiet, context)
    found, others = candidates[0], candidates[1:]
    if others and not quiet:
        names = ", ".join(f"'{shown(o.name)}'" for o in others)
        _note(f"found several daemons; using '{shown(found.name)}' (first to answer). Others: {names}. "
              "Choose one with --name NAME.")  # fmt: skip
    unpinned = vet(found, wanted.server_key, wanted.name)
    client, status = first_to_answer(found.targets(wanted.server_key), timeout, _keys_for([found]), context)
    _pin(unpinned, quiet=False)
    return client, status


def _given(wanted: Wanted, timeout: float, context: zmq.Context | None) -> tuple[PingClient, Status]:
    if wanted.name is not None or wanted.domain is not None:
        flag = "--name" if wanted.name is not None else "--domain"
        raise PingctlError(f"{flag} chooses among discovered daemons; drop it when giving --server-ip")
    port = DEFAULT_PORT if wanted.port is None else wanted.port
    if not 1 <= port <= 65535:
        raise PingctlError(f"port {port} is out of range (1-65535); check --port")
    assert wanted.server_ip is not None
    targets = [replace(t, server_key=wanted.server_key) for t in resolve_target(wanted.server_ip, port)]
    keys = trust.client_keys() if wanted.server_key else None
    return first_to_answer(targets, timeout, keys, context)


def vet(found: Found, server_key: str | None, asked: str | None) -> Unpinned | None:
    """Whether ``found`` may be connected to: raises PingctlError (KeyChanged) if not. Returns
    the key to pin after a successful handshake, when it is not pinned yet."""
    if found.curve_key is None:
        if server_key is None:
            trust.check_plain(asked or found.name, found.node_id)  # a pinned daemon gone plain
        return None
    if server_key is not None:
        if server_key != found.curve_key:
            raise PingctlError(
                f"pingd '{shown(found.name)}' announces key {found.curve_key}, not the --server-key given: "
                "refusing to connect (someone may be impersonating it)"
            )
        return None
    name = asked or found.name
    if trust.check(name, found.node_id, found.curve_key):
        return None
    return Unpinned(name, found.node_id, found.curve_key)


def _pin(unpinned: Unpinned | None, *, quiet: bool) -> None:
    if unpinned is None:
        return
    note = trust.record(unpinned.name, unpinned.node_id, unpinned.key)
    if note and not quiet:
        _note(note)


def _keys_for(found: list[Found], server_key: str | None = None) -> KeyPair | None:
    """This client's key pair, when any daemon will be spoken to encrypted."""
    return trust.client_keys() if server_key or any(f.curve_key for f in found) else None


def browse(window: float, interfaces: tuple[str, ...], domain: str | None) -> Browsed:
    """What discovery finds within ``window`` seconds; what it left out (records refused, or
    not resolved in time) is said on stderr, a line each."""
    from pingctl.find import search

    seen = search.browse(window, interfaces, domain)
    said = f"the {window:g} s window" if domain is None else f"the {window:g} s deadline"
    for note in seen.notes(said):
        _note(note)
    return seen


def searched(domain: str | None) -> str:
    """How discovery looked, for messages: "found within 1 s" or "registered in example.org"."""
    return f"registered in {domain}" if domain else f"found within {DISCOVER_WINDOW:g} s"


def choose_all(wanted: WantedAll) -> tuple[list[Found], list[str]]:
    """The daemons ``wanted`` means, as discovery finds them in ``DISCOVER_WINDOW``, and the
    names it gives that were not found. None found at all is a PingctlError."""
    found = browse(DISCOVER_WINDOW, wanted.interfaces, wanted.domain).found
    where = searched(wanted.domain)
    missing: list[str] = []
    if wanted.names:
        by_name = {f.name.lower(): f for f in found}
        missing = [n for n in wanted.names if n.lower() not in by_name]
        found = [by_name[n] for n in dict.fromkeys(n.lower() for n in wanted.names) if n in by_name]
        if not found:
            raise PingctlError(
                f"no pingd named {', '.join(repr(n) for n in missing)} {where}; check the names with pingctl discover"
            )
    if not found:
        raise PingctlError(
            f"no pingd {where}; is one running and announced here (pingctl discover), or registered in a domain "
            "(--domain)?"
        )
    return found, missing


def reach_all(
    found: list[Found], timeout: float, context: zmq.Context | None = None, server_key: str | None = None
) -> list[DaemonStatus]:
    """A first contact with every daemon in ``found``, all at once, in the same order
    (``pingctl.fleet.DaemonStatus`` each). A daemon whose key is refused is not contacted: its
    row says why. Keys not yet pinned are pinned for the daemons that answered."""
    from pingctl import fleet

    vetted: list[tuple[Found, Unpinned | None] | fleet.DaemonStatus] = []
    for f in found:
        try:
            vetted.append((f, vet(f, server_key, None)))
        except trust.KeyChanged as exc:
            where = f.targets()[0].display if f.addresses else shown(f.name)
            vetted.append(fleet.DaemonStatus(f, error=PinRefused(where, exc.short, str(exc))))
    asked = [item for item in vetted if isinstance(item, tuple)]
    keyed = [replace(f, curve_key=server_key) if server_key else f for f, _ in asked]
    answers = iter(fleet.connect(keyed, timeout, _keys_for(keyed), context))
    results: list[DaemonStatus] = []
    for item in vetted:
        if not isinstance(item, tuple):
            results.append(item)
            continue
        answer = next(answers)
        if answer.client is not None and item[1] is not None:
            try:
                _pin(item[1], quiet=True)
            except trust.KeyChanged as exc:  # pinned to another key meanwhile, by another pingctl
                answer.client.close()
                answer = fleet.DaemonStatus(item[0], error=PinRefused(answer.found.name, exc.short, str(exc)))
        results.append(answer)
    return results


def _first_registered(
    candidates: list[Found], wanted: Wanted, timeout: float, quiet: bool, context: zmq.Context | None
) -> tuple[PingClient, Status]:
    """The first daemon found in DNS that answers. Records outlive a daemon that was killed,
    so every candidate is asked at once, and one that does not answer within ``timeout`` is
    skipped with a note: never a hang, never a session with a dead daemon."""
    answers = reach_all(candidates, timeout, context, wanted.server_key)
    chosen = next((a for a in answers if a.client is not None and a.status is not None), None)
    silent = [a for a in answers if a.client is None]
    for answer in answers:
        if answer is not chosen and answer.client is not None:
            answer.client.close()
    if chosen is None:
        refused = next((a.error for a in silent if isinstance(a.error, PinRefused)), None)
        if refused is not None and len(silent) == 1:
            raise PingctlError(refused.warning)
        first = silent[0]
        why = explain(first.error) if first.error else "it announced no address"
        failure = NoReply if all(no_reply(a.error) for a in silent) else PingctlError
        raise failure(
            f"pingd '{shown(first.found.name)}' is registered in {first.found.domain} but did not answer: {why}"
            + (f" ({len(silent) - 1} more registered, none answered)" if len(silent) > 1 else "")
        )
    if not quiet:
        for answer in silent:
            where = f"'{shown(answer.found.name)}': registered in {answer.found.domain}"
            if isinstance(answer.error, NoAnswer) or answer.error is None:
                why = f"{where} but no answer within {timeout:g} s (its records outlive it?)"
            else:
                why = f"{where}, but {explain(answer.error)}"
            _note(f"skipped {why}")
        others = [a.found.name for a in answers if a is not chosen and a.client is not None]
        if others:
            names = ", ".join(f"'{shown(n)}'" for n in others)
            _note(f"found several daemons in {chosen.found.domain}; using '{shown(chosen.found.name)}'. "
                  f"Others: {names}. Choose one with --name NAME.")  # fmt: skip
    assert chosen.client is not None and chosen.status is not None
    return chosen.client, chosen.status


def _note(text: str) -> None:
    print(f"pingctl: {shown(text)}", file=sys.stderr)
