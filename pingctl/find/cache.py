"""What zeroconf's cache says of a daemon, read the way pingctl trusts it.

pingctl reads an instance's SRV, TXT and address records from the cache itself rather than
through zeroconf's ServiceInfo: only class-IN records count (an attacker's records of class
CH were used before), only for names a class-IN PTR points to, and every name and value is
checked (``pingctl.find.found``) before zeroconf sees a name it would raise on. Instances
missing from the cache are asked for all at once, never one after another.
"""

from __future__ import annotations

import asyncio
import concurrent.futures

from zeroconf import IPVersion, ServiceInfo, Zeroconf, current_time_millis

from pingctl.find.found import BadRecord, Browsed, Found, found_from
from pingctl.show.text import shown
from pingd.shared import mdnscache, service
from pingd.shared.service import SERVICE_TYPE

_TYPE_PTR = mdnscache.TYPE_PTR
_TYPE_SRV = mdnscache.TYPE_SRV
_CLASS_IN = mdnscache.CLASS_IN
txt_strings = mdnscache.txt_strings


def instance_name(full_name: str) -> str:
    return full_name.removesuffix("." + SERVICE_TYPE)


def found_in(info: ServiceInfo, full_name: str) -> Found:
    """What a resolved DNS-SD record says of a daemon, each value checked (BadRecord if one
    breaks its grammar, or the record gives no way to reach the daemon)."""
    return found_from(
        name=instance_name(full_name),
        host=info.server or "",
        addresses=info.parsed_scoped_addresses(IPVersion.All),
        port=info.port or 0,
        txt=service.txt_items(txt_strings(info.text or b"")),
    )


def instance_of(full_name: str) -> str:
    """The instance name in ``<instance>._pingd._tcp.local.``; BadRecord for a pointer to any
    other name, or an instance name outside the grammar (checked before zeroconf, which
    raises on some of them, ever sees it)."""
    suffix = "." + SERVICE_TYPE
    if not full_name.lower().endswith(suffix.lower()):
        raise BadRecord(f"{shown(full_name[:80])!r}: a pointer to a name outside {SERVICE_TYPE}")
    name = full_name[: -len(suffix)]
    problem = service.instance_name_problem(name)
    if problem is not None:
        raise BadRecord(f"'{shown(name[:80])}': {problem}")
    return name


def pointers(zc: Zeroconf) -> set[str]:
    """The names (lower case) that class-IN PTR records of the service type point at: asked
    once for a crowd, not once per name (300 names against 300 records cost 0.7 s)."""
    return mdnscache.pointers(zc, current_time_millis())


def pointed_to(zc: Zeroconf, full_name: str) -> bool:
    """Whether a class-IN PTR record of the service type points at ``full_name``."""
    return full_name.lower() in pointers(zc)


def from_cache(zc: Zeroconf, full_name: str) -> Found | None:
    """A daemon from the class-IN SRV, TXT and address records in zeroconf's cache; None while
    they are not all there. Raises BadRecord for a value outside its grammar."""
    name = instance_of(full_name)
    found = mdnscache.records(zc, full_name, current_time_millis())
    if found is None:
        return None
    return found_from(name=name, host=found.host, addresses=found.addresses, port=found.port, txt=found.txt)


#: What resolving one instance came to: a daemon, a refused record, or nothing (yet).
Outcome = Found | BadRecord | None


def resolve_all(zc: Zeroconf, full_names: list[str], timeout: float) -> dict[str, Outcome]:
    """Every instance's records: those already cached at once (answers to the PTR question
    carry them), the rest asked for all together on zeroconf's loop, never one after
    another, within ``timeout``. Only class-IN records pointed to by a class-IN PTR count."""
    outcomes: dict[str, Outcome] = {}
    missing: list[str] = []
    for full_name in full_names:
        outcome = _outcome(zc, full_name)
        outcomes[full_name] = outcome
        if outcome is None:
            missing.append(full_name)
    if missing and timeout > 0 and zc.loop is not None:
        from zeroconf.asyncio import AsyncServiceInfo

        async def one(full_name: str) -> None:
            await AsyncServiceInfo(SERVICE_TYPE, full_name).async_request(zc, max(1.0, timeout * 1000))

        async def every() -> None:
            await asyncio.gather(*(one(n) for n in missing))

        future = asyncio.run_coroutine_threadsafe(every(), zc.loop)
        try:
            future.result(timeout + 0.5)
        except (TimeoutError, concurrent.futures.TimeoutError):
            future.cancel()
        for full_name in missing:
            outcomes[full_name] = _outcome(zc, full_name)
    return outcomes


def _outcome(zc: Zeroconf, full_name: str) -> Outcome:
    try:
        return from_cache(zc, full_name)
    except BadRecord as exc:
        return exc


def usable(outcomes: dict[str, Outcome]) -> Browsed:
    """The daemons resolved; the refused and the unresolved counted apart."""
    seen = Browsed([])
    for outcome in outcomes.values():
        if isinstance(outcome, Found):
            seen.found.append(outcome)
        elif isinstance(outcome, BadRecord):
            seen.ignored.append(str(outcome))
        else:
            seen.unresolved += 1
    seen.found.sort(key=lambda f: f.name.lower())
    return seen
