"""Discovery that goes on for as long as the program runs (`pingctl monitor`): every source of
daemons followed at once, each in a thread of its own, their news handed to one callback.

The sources are those `discover --watch` follows, and the ones a one-shot lookup asks: with
``--domain``, that DNS domain (asked again every few seconds, ``widearea.watch``); without it,
mDNS on the link (``pingctl.find.watch``: announcements, goodbyes, records kept fresh) and
the browse domains the network suggests under the resolver's search domains, if any. Every
record has passed discovery's checks before it is news (a forged or oversized one never is).

News is ``(source, Found)`` for a daemon found or changed, ``(source, name)`` for one gone,
where the source is ``"local"`` (mDNS) or the domain; or a PingctlError from a source that
could not start (mDNS on an interface this host does not have).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from pingctl.errors import PingctlError
from pingctl.find.found import Found

News = tuple[str, Found | str] | PingctlError
#: The source name of mDNS's news.
LOCAL = "local"
#: How long the suggested browse domains have to be named, at start.
SUGGEST_DEADLINE = 3.0


def follow(
    interfaces: tuple[str, ...], domain: str | None, news: Callable[[News], None], stop: threading.Event
) -> list[threading.Thread]:
    """Start following; the threads started (they end soon after ``stop`` is set)."""
    from pingctl.find import resolvconf

    if domain is not None:
        return [_started(_domain_thread(domain, news, stop))]
    threads = [_started(threading.Thread(target=_relay, args=(LOCAL, _mdns(interfaces, stop), news), daemon=True))]
    search = resolvconf.read().search
    if search:
        threads.append(_started(threading.Thread(target=_suggested, args=(list(search), news, stop), daemon=True)))
    return threads


def _mdns(interfaces: tuple[str, ...], stop: threading.Event) -> Callable[[], Iterator[Found | str]]:
    def events() -> Iterator[Found | str]:
        from pingctl.find import watch

        return watch.watch(interfaces, stop=stop.is_set)

    return events


def _domain_thread(domain: str, news: Callable[[News], None], stop: threading.Event) -> threading.Thread:
    def events() -> Iterator[Found | str]:
        from pingctl.find import widearea

        return widearea.watch(domain, stop=stop.is_set)

    return threading.Thread(target=_relay, args=(domain, events, news), daemon=True)


def _relay(source: str, events: Callable[[], Iterator[Found | str]], news: Callable[[News], None]) -> None:
    try:
        for event in events():
            news((source, event))
    except PingctlError as exc:
        news(exc)


def _suggested(search: list[str], news: Callable[[News], None], stop: threading.Event) -> None:
    """Follow each browse domain the network suggests (none if it suggests none)."""
    from pingctl.find import widearea

    for domain in widearea.suggested_domains(search, time.monotonic() + SUGGEST_DEADLINE):
        if stop.is_set():
            return
        _started(_domain_thread(domain, news, stop))


def _started(thread: threading.Thread) -> threading.Thread:
    thread.start()
    return thread
