"""What pingctl prints: ping-style lines and summaries, and the JSON documents."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pingctl.errors import ClientError
from pingctl.model import PingResult, Target
from pingctl.show.text import shown
from pingctl.stats import Bucket, Running, Summary

if TYPE_CHECKING:
    from pingctl.fleet import DaemonStatus
from pingd.shared.protocol import Status


def _ms(value: float) -> str:
    return f"{value:.3f}"


def session_header(target: Target, count: int, interval: float, status: Status) -> str:
    name = status.name or target.name or target.display
    pings = f"{count} pings" if count else "pings until stopped"
    return f"PING {shown(name)} (node {shown(status.node_id)}) at {target.endpoint}: {pings}, interval {interval:g} s"


def result_line(index: int, result: PingResult, target: Target, timeout: float) -> str:
    if result.rtt_ms is not None and result.error is None:
        return f"pong from {target.display}: seq={index} count={result.count} time={_ms(result.rtt_ms)} ms"
    if result.error is not None:
        return f"error from {target.display}: seq={index} {shown(result.error)}"
    return f"no reply from {target.display}: seq={index} (timeout {timeout:g} s)"


def summary_lines(name: str, summary: Summary, last_count: int | None) -> list[str]:
    lines = [
        f"--- {shown(name)} ping statistics ---",
        f"{summary.sent} pings transmitted, {summary.received} received, "
        f"{summary.lost} lost, {summary.loss_percent:.4g}% loss, time {summary.total_seconds:.3f} s",
    ]
    if summary.rtt is not None:
        r = summary.rtt
        lines.append(f"rtt min/avg/max/mdev = {_ms(r.min)}/{_ms(r.avg)}/{_ms(r.max)}/{_ms(r.mdev)} ms")
        lines.append(f"rtt p50/p90/p99 = {_ms(r.p50)}/{_ms(r.p90)}/{_ms(r.p99)} ms")
    if last_count is not None:
        lines.append(f"server count {last_count}")
    return lines


def session_json(summary: Summary, last_count: int | None, target: Target, status: Status) -> dict[str, Any]:
    return {
        "sent": summary.sent,
        "received": summary.received,
        "lost": summary.lost,
        "loss_percent": round(summary.loss_percent, 3),
        "total_seconds": round(summary.total_seconds, 6),
        "rtt_ms": summary.rtt.as_dict() if summary.rtt is not None else None,
        "last_count": last_count,
        "server": {
            "address": target.address,
            "port": target.port,
            "node_id": status.node_id,
            "name": status.name,
        },
    }


def status_lines(target: Target, status: Status) -> list[str]:
    key = status.curve_public_key
    return [
        f"pingd {shown(status.name)} at {target.endpoint}",
        f"  node id      {shown(status.node_id)}",
        f"  version      {shown(status.version)} (protocol {status.protocol})",
        f"  count        {status.count}",
        f"  served       {status.pings_served} pings since start"
        + (f" (and {status.probes_served} mesh probes from peers, not counted)" if status.probes_served else ""),
        f"  uptime       {duration(status.uptime_seconds)}",
        f"  durability   {shown(status.durability)}",
        f"  storage      {shown(status.storage)}",
        f"  security     {shown(status.security)}" + (f" (key {shown(key)})" if key else ""),
        *([f"  announced    {shown(status.announced)}"] if status.announced is not None else []),
        *([f"  mesh         {shown(status.mesh)}"] if status.mesh is not None else []),
    ]


def status_json(status: Status, target: Target) -> dict[str, Any]:
    return {**status.to_json(), "address": target.address, "port": target.port}


def table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as aligned columns (the first row the header); the last column is not padded.
    Every cell is escaped: they may come from the network."""
    cells = [tuple(shown(cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]) - 1)]
    return ["  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip() for row in cells]


def fleet_status_rows(results: list[DaemonStatus], why: Callable[[ClientError], str]) -> list[tuple[str, ...]]:
    """status --all: one row per daemon, its status or (``why``) the reason it gave none."""
    rows: list[tuple[str, ...]] = [
        ("NAME", "ADDRESS", "COUNT", "SERVED", "UPTIME", "DURABILITY", "STORAGE", "SECURITY", "VERSION")
    ]
    for r in results:
        if r.status is None:
            where = r.found.targets()[0].display if r.found.addresses else "?"
            reason = why(r.error) if r.error is not None else "no address"
            rows.append((r.found.name, where, "-", "-", "-", "-", "-", "-", reason))
            continue
        s = r.status
        display = r.target.display if r.target is not None else "?"
        rows.append((s.name, display, str(s.count), str(s.pings_served), duration(s.uptime_seconds),
                     s.durability, s.storage, s.security, s.version))  # fmt: skip
    return rows


def duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def histogram_lines(buckets: list[Bucket], width: int = 40) -> list[str]:
    """redis-cli --latency-dist style: one line per log-spaced bucket, a bar and a count."""
    if not buckets:
        return []
    top = max(b.count for b in buckets)
    total = sum(b.count for b in buckets)
    lines = ["rtt histogram (ms):"]
    for b in buckets:
        high = "inf" if b.high == float("inf") else f"{b.high:g}"
        bar = "#" * (round(width * b.count / top) if b.count else 0)
        share = 100 * b.count / total
        lines.append(f"  {b.low:>7g} - {high:<7} |{bar:<{width}}| {b.count} ({share:.1f}%)")
    return lines


def histogram_json(buckets: list[Bucket]) -> list[dict[str, Any]]:
    return [{"low_ms": b.low, "high_ms": None if b.high == float("inf") else b.high, "count": b.count} for b in buckets]


def progress(running: Running, count: int, server_count: int | None) -> list[tuple[str, str]]:
    """ping's live status bar: progress, last RTT, running min/avg/max, loss, server count."""
    r = running
    total = f"/{count}" if count else ""
    bar = [(f" {r.sent}{total} ", "reverse")]
    if r.last is not None:
        bar.append((f"  last {r.last:.3f} ms  min/avg/max {r.min:.3f}/{r.mean:.3f}/{r.max:.3f} ms", ""))
    bar.append((f"  loss {r.loss_percent:.1f}%", "bold red" if r.sent != r.received else "green"))
    if server_count is not None:
        bar.append((f"  server count {server_count}", ""))
    return bar


def interim_line(running: Running) -> str:
    """What SIGQUIT prints (ping's Ctrl-\\): the session so far, one line."""
    line = f"{running.received}/{running.sent} pongs, {running.loss_percent:.4g}% loss"
    if running.received:
        line += (
            f", rtt min/avg/max/mdev = {_ms(running.min)}/{_ms(running.mean)}/{_ms(running.max)}/{_ms(running.mdev)} ms"
        )
    return line


def samples_json(results: list[PingResult]) -> list[dict[str, Any]]:
    return [
        {"seq": i, "rtt_ms": None if r.rtt_ms is None else round(r.rtt_ms, 4), "count": r.count, "error": r.error}
        for i, r in enumerate(results, start=1)
    ]
