"""Finding daemons: ``search.find`` and ``search.browse`` are the entry points (mDNS on the link
and DNS-SD beyond it, raced); ``mdns`` is the one-shot querier, ``cache`` reads what it heard,
``widearea`` browses a domain, ``watch`` follows the link, and ``found.Found`` is a daemon
found, every value checked. Imported only on the discovery path."""
