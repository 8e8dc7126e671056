"""Showing: ``render`` (lines and JSON documents), ``output`` (plain, quiet, JSON, live),
``board`` (ping --all's table), ``status_watch`` (status --watch), and ``text.shown``, through
which everything from the network is printed."""
