"""DNS-SD over unicast DNS (RFC 6763): the records that make a daemon browsable in a domain.

Pure: which records a daemon has in a domain, their zone-file lines, and the RFC 2136
update messages that add, refresh and remove them. The I/O that sends those messages is
``pingd.announce.registrar``; ``pingd --print-dns-records`` prints ``zone_lines``.

For instance ``box`` of a daemon with node id ``n`` in domain ``example.org``::

    _services._dns-sd._udp.example.org.  PTR  _pingd._tcp.example.org.     (service enumeration, §9)
    _pingd._tcp.example.org.             PTR  box._pingd._tcp.example.org.
    box._pingd._tcp.example.org.         SRV  0 0 7464 pingd-n.example.org.
    box._pingd._tcp.example.org.         TXT  "txtvers=1" "pv=…" "ver=…" "id=n"
    pingd-n.example.org.                 A    192.0.2.10

The host name carries the node id, as over mDNS, so two daemons never share address records.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from pathlib import Path

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.tsig
import dns.update

from pingd.announce.announcement import Announcement
from pingd.shared import addresses as addressing
from pingd.shared import files, service
from pingd.shared.service import ENUMERATION_LABELS, SERVICE_LABELS

#: Seconds a resolver may cache the records: a daemon gone without removing them (SIGKILL)
#: stays in caches at most this long after an operator deletes its records.
TTL = 60


class DnsSettingError(ValueError):
    """A DNS-SD setting that cannot be used (a key file, a server address)."""


def domain_name(text: str) -> dns.name.Name:
    """A domain as given by a user (``example.org`` or ``example.org.``), absolute."""
    try:
        name = dns.name.from_text(text.strip().rstrip(".") + ".")
    except dns.exception.DNSException as exc:
        raise DnsSettingError(f"{text!r} is not a domain name ({exc})") from None
    if name == dns.name.root:
        raise DnsSettingError("the root is not a domain to register in")
    return name


@dataclass(frozen=True, slots=True)
class ServiceRecords:
    """A daemon's DNS-SD records in one domain."""

    domain: dns.name.Name
    instance: dns.name.Name  # <name>._pingd._tcp.<domain>
    host: dns.name.Name  # pingd-<node id>.<domain>
    port: int
    addresses: tuple[str, ...]
    txt: tuple[bytes, ...]
    ttl: int = TTL

    @property
    def service(self) -> dns.name.Name:
        return dns.name.Name(SERVICE_LABELS + self.domain.labels)

    @property
    def enumeration(self) -> dns.name.Name:
        return dns.name.Name(ENUMERATION_LABELS + self.domain.labels)

    @property
    def instance_label(self) -> str:
        return self.instance.labels[0].decode(errors="replace")

    def srv(self) -> dns.rdata.Rdata:
        return _rdata("SRV", f"0 0 {self.port} {self.host}")

    def txt_rdata(self) -> dns.rdata.Rdata:
        return _rdata("TXT", " ".join(_quoted(item) for item in self.txt))

    def pointer(self) -> dns.rdata.Rdata:
        return _rdata("PTR", self.instance.to_text())

    def address_rdatas(self) -> list[dns.rdata.Rdata]:
        return [_rdata("AAAA" if addressing.is_ipv6(a) else "A", a) for a in self.addresses]

    def rrsets(self) -> list[tuple[dns.name.Name, dns.rdata.Rdata]]:
        """Every record, owner first, in the order an operator reads them."""
        return [
            (self.enumeration, _rdata("PTR", self.service.to_text())),
            (self.service, self.pointer()),
            (self.service, self.srv()),
            (self.instance, self.srv()),
            (self.instance, self.txt_rdata()),
            *((self.host, rdata) for rdata in self.address_rdatas()),
        ]

    def renamed(self, label: str) -> ServiceRecords:
        return replace(self, instance=instance_name(label, self.domain))


def instance_name(label: str, domain: dns.name.Name) -> dns.name.Name:
    """``<label>._pingd._tcp.<domain>``; the label is any UTF-8 text (RFC 6763 §4.3)."""
    return dns.name.Name((label.encode(),) + SERVICE_LABELS + domain.labels)


def records_for(announcement: Announcement, domain: dns.name.Name, addresses: list[str]) -> ServiceRecords:
    return ServiceRecords(
        domain=domain,
        instance=instance_name(announcement.name, domain),
        host=dns.name.Name((service.host_label(announcement.node_id).encode(),) + domain.labels),
        port=announcement.port,
        addresses=tuple(addresses),
        txt=tuple(
            f"{k}={v}".encode() for k, v in service.txt_records(announcement.node_id, announcement.public_key).items()
        ),
    )


def routable_addresses(listening: tuple[str, ...]) -> list[str]:
    """The addresses worth putting in DNS: not loopback, not link-local (neither reaches past
    the host or the link), unless nothing else is left."""
    routable = [a for a in listening if not (_ip(a).is_loopback or _ip(a).is_link_local)]
    return routable or list(listening)


def zone_lines(records: ServiceRecords) -> list[str]:
    """The records as zone-file lines (absolute names), aligned."""
    rows = [
        (owner.to_text(), str(records.ttl), "IN", dns.rdatatype.to_text(rdata.rdtype), rdata.to_text())
        for owner, rdata in records.rrsets()
    ]
    width = max(len(r[0]) for r in rows)
    return [f"{owner:<{width}} {ttl} {klass} {kind:<4} {data}" for owner, ttl, klass, kind, data in rows]


# -- RFC 2136 updates ------------------------------------------------------------------------


def register_update(zone: dns.name.Name, records: ServiceRecords, *, take_over: bool) -> dns.update.UpdateMessage:
    """Add the records. ``take_over=False`` asks that the instance name be free (no SRV there:
    the server answers YXRRSET if another daemon has it); ``take_over=True`` replaces what is
    there, for a name already known to be this daemon's own (a restart after SIGKILL)."""
    update = dns.update.UpdateMessage(zone)
    if not take_over:
        update.absent(records.instance, "SRV")
    _put(update, records)
    return update


def refresh_update(zone: dns.name.Name, records: ServiceRecords) -> dns.update.UpdateMessage:
    """Put the records back as they should be, if the name is still this daemon's (its SRV is
    there, exactly: NXRRSET otherwise, and the daemon registers afresh)."""
    update = dns.update.UpdateMessage(zone)
    update.present(records.instance, _prerequisite(records.srv()))
    _put(update, records)
    return update


def remove_update(zone: dns.name.Name, records: ServiceRecords) -> dns.update.UpdateMessage:
    """Delete this daemon's records, only if its name is still its own. The service
    enumeration PTR stays: other daemons in the domain may share it."""
    update = dns.update.UpdateMessage(zone)
    update.present(records.instance, _prerequisite(records.srv()))
    update.delete(records.instance)
    update.delete(records.service, records.pointer())
    update.delete(records.service, records.srv())
    update.delete(records.host)
    return update


def _put(update: dns.update.UpdateMessage, records: ServiceRecords) -> None:
    update.add(records.enumeration, records.ttl, _rdata("PTR", records.service.to_text()))
    update.add(records.service, records.ttl, records.pointer())
    # The same SRV at the service's own name too, beside every other daemon's: what a client of
    # plain SRV records reads (RFC 2782; Prometheus' dns_sd_configs), which follows no PTR.
    update.add(records.service, records.ttl, records.srv())
    update.replace(records.instance, records.ttl, records.srv())
    update.replace(records.instance, records.ttl, records.txt_rdata())
    update.delete(records.host)  # addresses from an earlier run go; this run's follow
    for rdata in records.address_rdatas():
        update.add(records.host, records.ttl, rdata)


def _prerequisite(rdata: dns.rdata.Rdata) -> dns.rdataset.Rdataset:
    """A value-dependent prerequisite: this exact RRset (TTL 0, as RFC 2136 §2.4.2 asks)."""
    rdataset = dns.rdataset.Rdataset(rdata.rdclass, rdata.rdtype)
    rdataset.add(rdata, 0)
    return rdataset


def _rdata(kind: str, text: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(kind), text)


def _quoted(item: bytes) -> str:
    return '"' + item.decode(errors="replace").replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(address.split("%")[0])


# -- settings --------------------------------------------------------------------------------

_KEY = re.compile(
    r'key\s+"?(?P<name>[^"\s{]+)"?\s*\{(?P<body>[^}]*)\}\s*;',
    re.IGNORECASE,
)
_ALGORITHM = re.compile(r'algorithm\s+"?(?P<value>[\w.-]+)"?\s*;', re.IGNORECASE)
_SECRET = re.compile(r'secret\s+"(?P<value>[A-Za-z0-9+/=\s]+)"\s*;', re.IGNORECASE)
_COMMENT_OR_STRING = re.compile(r'"[^"]*"|(?:#|//)[^\n]*|/\*.*?\*/', re.DOTALL)


#: The TSIG algorithms tsig-keygen makes (its names), as dnspython names them.
ALGORITHMS = {
    "hmac-md5": dns.tsig.HMAC_MD5,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}


def parse_key(text: str, origin: str) -> dns.tsig.Key:
    """The TSIG key in a BIND key file (``key "name" { algorithm …; secret "…"; };``, as
    ``tsig-keygen`` and ``ddns-confgen`` write it); the first one if there are several."""
    # Comments (#, //, /* */) go, but never inside a quoted string: a base64 secret may hold "//".
    clean = _COMMENT_OR_STRING.sub(lambda m: m[0] if m[0].startswith('"') else " ", text)
    found = _KEY.search(clean)
    if found is None:
        raise DnsSettingError(f'{origin}: no key "name" {{ algorithm …; secret "…"; }}; (make one with tsig-keygen)')
    algorithm, secret = _ALGORITHM.search(found["body"]), _SECRET.search(found["body"])
    if algorithm is None or secret is None:
        raise DnsSettingError(f"{origin}: key {found['name']!r} needs both an algorithm and a secret")
    name = algorithm["value"].lower()
    if name not in ALGORITHMS:
        raise DnsSettingError(f"{origin}: key {found['name']!r}: unknown algorithm {name!r} ({', '.join(ALGORITHMS)})")
    try:
        return dns.tsig.Key(found["name"], "".join(secret["value"].split()), ALGORITHMS[name])
    except Exception as exc:  # an unknown algorithm, a secret that is not base64
        raise DnsSettingError(f"{origin}: key {found['name']!r}: {exc}") from None


#: Bytes read of a key file at most: a BIND key file is under 1 KiB.
KEY_FILE_LIMIT = 4096


def read_key(path: Path) -> dns.tsig.Key:
    """The key in the BIND key file at ``path``, read as pingd reads every input file: a FIFO,
    a device (``/dev/zero``), a directory or a file over ``KEY_FILE_LIMIT`` bytes is refused at
    once, in one line, never waited on or read without end."""
    try:
        data = files.read_regular(path, KEY_FILE_LIMIT)
    except OSError as exc:
        raise DnsSettingError(f"DNS key file {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DnsSettingError(f"DNS key file {path}: not a BIND key file (not text)") from None
    return parse_key(text, f"DNS key file {path}")
