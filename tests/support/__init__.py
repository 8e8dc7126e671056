"""What the tests, the benchmark and the demo share (one kit, no copies):

- ``processes``: start pingd (ready by its log line or by systemd's READY=1 on a notify
  socket) and pingctl as subprocesses, wait on conditions with deadlines, stop by PID;
- ``notify``: a notify socket that receives what pingd tells systemd;
- ``fakes``: daemons that are not pingd (a scripted ROUTER, a plain TCP server);
- ``load``: a load client that records every acknowledged count;
- ``netns`` and ``avahi``: test hosts in network namespaces, with Debian's avahi-daemon;
- ``prometheus``: Debian's Prometheus on loopback, scraping what a test gives it.

The benchmark and the demo run from the repository root (``python -m bench``, ``make demo``)
and import this package from there.
"""
