"""Where pingctl looks for daemons: mDNS on the link, DNS domains beyond it.

``--domain D`` browses that DNS domain alone (as ``avahi-browse -d``). Without it, pingctl
browses the domains the network suggests (RFC 6763 §11) under the resolver's search domains
and, unless they answer within ``DNS_HEAD_START``, mDNS as well; the first to find a daemon
wins. (The head start spares a managed network loading zeroconf next to dnspython, which
would slow both: the two compete for one interpreter.) A host with no search
domains (``LOCALDOMAIN`` or /etc/resolv.conf) takes the plain mDNS path and loads no DNS code.

Daemons found in DNS may be dead: records outlive a daemon that was killed. ``find`` returns
them all as candidates; the caller asks each and takes the first that answers.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from pingctl.errors import PingctlError
from pingctl.find import resolvconf
from pingctl.find.found import Browsed, Found


def find(name: str | None, timeout: float, interfaces: tuple[str, ...], domain: str | None) -> tuple[list[Found], str]:
    """Candidates for the daemon to use, the preferred first, and how they were found
    ("mDNS" or "DNS"). Raises PingctlError when nothing is found within ``timeout``."""
    deadline = time.monotonic() + timeout
    if domain is not None:
        return _in_domains([domain], name, deadline), "DNS"
    search = resolvconf.read().search
    if not search:
        from pingctl.find import mdns

        found, others = mdns.find(name, timeout, interfaces)
        return [found, *others], "mDNS"
    return _race(name, timeout, interfaces, list(search), deadline)


def browse(timeout: float, interfaces: tuple[str, ...], domain: str | None) -> Browsed:
    """Every daemon found within ``timeout``: in ``domain`` alone (as soon as it answers), or
    over mDNS for the whole window and in the suggested domains meanwhile. A daemon found both
    ways is listed once, as mDNS found it (the nearer way)."""
    deadline = time.monotonic() + timeout
    if domain is not None:
        from pingctl.find import widearea

        return widearea.browse(domain, deadline)
    from pingctl.find import mdns

    search = resolvconf.read().search
    if not search:
        return mdns.browse(timeout, interfaces)
    wide: list[Browsed] = []
    thread = threading.Thread(target=lambda: wide.append(_suggested(list(search), deadline)), daemon=True)
    thread.start()
    local = mdns.browse(timeout, interfaces)
    thread.join(max(0.0, deadline - time.monotonic()))
    far = wide[0] if wide else Browsed([])
    seen = {f.node_id for f in local.found if f.node_id}
    merged = local.found + [f for f in far.found if not f.node_id or f.node_id not in seen]
    return Browsed(
        sorted(merged, key=lambda f: f.name.lower()),
        local.ignored + far.ignored,
        local.unresolved + far.unresolved,
    )


#: How long the suggested domains have to answer on their own, before mDNS starts as well.
#: A managed network answers well within it (a few round trips), and then zeroconf is never
#: loaded; a resolver slower than that only delays mDNS by this much.
DNS_HEAD_START = 0.2


def _race(
    name: str | None, timeout: float, interfaces: tuple[str, ...], search: list[str], deadline: float
) -> tuple[list[Found], str]:
    """The suggested domains, then (unless they answered at once) mDNS as well; the first
    to find a daemon wins."""
    results: queue.Queue[tuple[str, list[Found] | PingctlError]] = queue.Queue()
    stop = threading.Event()

    def over_mdns() -> list[Found]:
        from pingctl.find import mdns

        found, others = mdns.find(name, max(0.001, deadline - time.monotonic()), interfaces, stop)
        return [found, *others]

    def over_dns() -> list[Found]:
        found = [f for f in _suggested(search, deadline).found if _named(f, name)]
        if not found:
            raise PingctlError("")
        return found

    threading.Thread(target=_report, args=("DNS", over_dns, results), daemon=True).start()
    pending = 1
    failure: PingctlError | None = None
    try:
        try:
            how, outcome = results.get(timeout=DNS_HEAD_START)
            pending -= 1
            if isinstance(outcome, list):
                return outcome, how
        except queue.Empty:
            pass
        threading.Thread(target=_report, args=("mDNS", over_mdns, results), daemon=True).start()
        pending += 1
        while pending:
            how, outcome = results.get(timeout=max(0.0, deadline - time.monotonic()) + 1.0)
            pending -= 1
            if isinstance(outcome, list):
                return outcome, how
            if how == "mDNS":
                failure = outcome
    except queue.Empty:
        pass
    finally:
        stop.set()
    raise failure or PingctlError(f"no pingd found within {timeout:g} s")


def _report(how: str, job: Callable[[], list[Found]], results: queue.Queue) -> None:
    try:
        results.put((how, job()))
    except PingctlError as exc:
        results.put((how, exc))


def _suggested(search: list[str], deadline: float) -> Browsed:
    """Daemons in the browse domains the network suggests; none when it suggests none or does
    not answer (mDNS goes on regardless)."""
    from pingctl.find import widearea

    seen = Browsed([])
    for domain in widearea.suggested_domains(search, deadline):
        try:
            more = widearea.browse(domain, deadline)
        except PingctlError:
            continue
        seen.found += more.found
        seen.ignored += more.ignored
        seen.unresolved += more.unresolved
    return seen


def _in_domains(domains: list[str], name: str | None, deadline: float) -> list[Found]:
    from pingctl.find import widearea

    seen = [widearea.browse(d, deadline) for d in domains]
    found = [f for b in seen for f in b.found if _named(f, name)]
    if not found:
        where = ", ".join(domains)
        what = f"no pingd named '{name}'" if name else "no pingd"
        unresolved = sum(b.unresolved for b in seen)
        ignored = [note for b in seen for note in b.ignored]
        if unresolved:
            raise PingctlError(
                f"{what} resolved in {where} in time: {unresolved} registered, but their records did not "
                "resolve before the deadline; raise --discovery-timeout"
            )
        if ignored:
            raise PingctlError(f"{what} usable in {where}; ignored a record: {ignored[0]}")
        raise PingctlError(
            f"{what} registered in {where} (no _pingd._tcp records there); list them with pingctl discover --domain"
        )
    return found


def _named(found: Found, name: str | None) -> bool:
    return name is None or found.name.lower() == name.lower()
