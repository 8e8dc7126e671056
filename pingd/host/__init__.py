"""The host pingd runs on: systemd (``systemd.Notifier`` and the status line), the journal's
log format (``logs``), memory handed back (``memory``), and the interfaces (``netinfo``)."""
