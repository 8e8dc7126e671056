"""Making pingd known: ``mdns.MdnsAnnouncer`` on the link, ``registrar.DnsRegistrar`` in a DNS
domain (RFC 2136, its records from ``dnssd``, its exchanges through ``dnsquery``), and
``zonefile`` for ``--print-dns-records``. Each announcer runs on a thread of its own and
never stops the daemon from serving."""
