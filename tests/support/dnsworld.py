"""A small DNS world in network namespaces: two subnets no multicast crosses, and BIND.

Three hosts, each on a subnet of its own, joined by a routing namespace (which forwards
unicast and never multicast): S, the server host (10.240.1.2); C, the client host
(10.240.2.2); D, the DNS host (10.240.3.2), where Debian's BIND (named) serves zone
``example.test`` and accepts updates signed with a TSIG key made by tsig-keygen (for the
record types pingd registers, as the README's zone snippet has it). C's
resolver is D, with search domain example.test (``ip netns exec`` mounts
/etc/netns/<C>/resolv.conf over /etc/resolv.conf), and the zone names itself as a browse
domain (``b._dns-sd._udp`` and ``lb._dns-sd._udp``, RFC 6763 §11).

Everything made is removed by ``close()``, even after a failure: named (stopped by its PID),
the namespaces, the resolv.conf directory and the key and zone files.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.netns import Host, _ip, add_namespace
from tests.support.processes import wait_for

ZONE = "example.test"
DNS_ADDRESS = "10.240.3.2"
KEY_NAME = "pingd-key"


def available() -> str | None:
    """None if the DNS world can be built here, else why not."""
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("ip", "named", "tsig-keygen"):
        if shutil.which(tool) is None:
            return f"needs {tool} (Debian: iproute2, bind9, bind9-utils)"
    return None


class DnsWorld:
    def __init__(self) -> None:
        tag = "dw" + secrets.token_hex(3)
        self.router = f"{tag}-r"
        self.directory = Path(tempfile.mkdtemp(prefix="pingd-dnsworld-"))
        self.directory.chmod(0o755)
        self.key_file = self.directory / "key"
        self._tag = tag
        self._namespaces: list[str] = []
        self._named: subprocess.Popen | None = None
        self.server: Host
        self.client: Host
        self.dns: Host

    def __enter__(self) -> DnsWorld:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _namespace(self, name: str) -> None:
        add_namespace(name, self._namespaces)

    def _build(self) -> None:
        self._namespace(self.router)
        subprocess.run(["ip", "netns", "exec", self.router, "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
        hosts = []
        for index, role in enumerate(("s", "c", "d"), start=1):
            ns = f"{self._tag}-{role}"
            self._namespace(ns)
            inner, outer = f"{self._tag}{role}h", f"{self._tag}{role}r"
            _ip("link", "add", inner, "netns", ns, "type", "veth", "peer", "name", outer, "netns", self.router)
            _ip("-n", self.router, "addr", "add", f"10.240.{index}.1/24", "dev", outer)
            _ip("-n", self.router, "link", "set", outer, "up")
            _ip("-n", ns, "addr", "add", f"10.240.{index}.2/24", "dev", inner)
            _ip("-n", ns, "link", "set", inner, "up")
            _ip("-n", ns, "route", "add", "default", "via", f"10.240.{index}.1")
            _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", inner)  # mDNS stays on this subnet
            hosts.append(Host(ns, f"10.240.{index}.2", inner))
        self.server, self.client, self.dns = hosts
        self._start_named()
        resolv = Path("/etc/netns") / self.client.namespace
        resolv.mkdir(parents=True, exist_ok=True)
        (resolv / "resolv.conf").write_text(f"nameserver {DNS_ADDRESS}\nsearch {ZONE}\n")

    def _start_named(self) -> None:
        key = subprocess.run(["tsig-keygen", "-a", "hmac-sha256", KEY_NAME], check=True, capture_output=True, text=True)
        self.key_file.write_text(key.stdout)
        (self.directory / f"db.{ZONE}").write_text(
            "$TTL 60\n"
            f"@ IN SOA ns.{ZONE}. admin.{ZONE}. 1 60 60 600 60\n"
            f"@ IN NS ns.{ZONE}.\n"
            f"ns IN A {DNS_ADDRESS}\n"
            f"b._dns-sd._udp IN PTR {ZONE}.\n"
            f"lb._dns-sd._udp IN PTR {ZONE}.\n"
        )
        d = self.directory
        (d / "named.conf").write_text(
            f'include "{self.key_file}";\n'
            f'options {{ directory "{d}"; listen-on {{ {DNS_ADDRESS}; }}; listen-on-v6 {{ none; }};\n'
            f'  recursion no; pid-file "{d}/named.pid"; dnssec-validation no; allow-query {{ any; }};\n'
            # BIND 9.18.28 and later refuse a 101st record of one type at one name (CVE-2024-1737):
            # the service's PTR set holds one record per daemon registered, hundreds at scale.
            "  max-records-per-type 0; };\n"
            f'zone "{ZONE}" {{ type primary; file "{d}/db.{ZONE}";\n'
            # The README's policy: the key may change only the record types pingd registers.
            f"  update-policy {{ grant {KEY_NAME} subdomain {ZONE}. PTR SRV TXT A AAAA; }}; }};\n"
        )
        self.named_log = d / "named.log"
        with open(self.named_log, "w") as log:
            self._named = subprocess.Popen(
                [*self.dns.prefix, "named", "-g", "-c", str(d / "named.conf")], stdout=log, stderr=subprocess.STDOUT
            )
        wait_for(lambda: "running" in self.named_log.read_text() or self._named.poll() is not None, 20, "named")
        if self._named.poll() is not None:
            raise AssertionError(f"named exited:\n{self.named_log.read_text()}")

    def lookup(self, name: str, kind: str) -> list[str]:
        """The records at ``name`` as D serves them now (asked from C), as text; [] if none."""
        code = (
            "import sys, dns.message, dns.query\n"
            "r = dns.query.udp(dns.message.make_query(sys.argv[1], sys.argv[2]), sys.argv[3], timeout=2)\n"
            "print('\\n'.join(x.to_text() for s in r.answer for x in s))\n"
        )
        run = self.client.run(sys.executable, "-c", code, name, kind, DNS_ADDRESS)
        assert run.returncode == 0, run.stderr
        return [line for line in run.stdout.splitlines() if line]

    def forget(self, name: str) -> None:
        """Delete instance ``name``'s records (as an operator would after a SIGKILL)."""
        code = (
            "import sys, dns.query, dns.update\n"
            "from pingd.announce import dnssd\n"
            "from pathlib import Path\n"
            "u = dns.update.UpdateMessage(sys.argv[2])\n"
            "instance = f'{sys.argv[1]}._pingd._tcp.{sys.argv[2]}.'\n"
            "u.delete(instance)\n"
            "u.delete(f'_pingd._tcp.{sys.argv[2]}.', 'PTR', instance)\n"
            "u.use_tsig(dnssd.read_key(Path(sys.argv[3])))\n"
            "dns.query.udp(u, sys.argv[4], timeout=2)\n"
        )
        run = self.client.run(sys.executable, "-c", code, name, ZONE, str(self.key_file), DNS_ADDRESS)
        assert run.returncode == 0, run.stderr

    def close(self) -> None:
        if self._named is not None and self._named.poll() is None:
            self._named.terminate()
            try:
                self._named.wait(10)
            except subprocess.TimeoutExpired:
                self._named.kill()
                self._named.wait(10)
        for name in reversed(self._namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        self._namespaces.clear()
        if hasattr(self, "client"):
            shutil.rmtree(Path("/etc/netns") / self.client.namespace, ignore_errors=True)
        shutil.rmtree(self.directory, ignore_errors=True)
