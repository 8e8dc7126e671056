"""What pingd and pingctl share, and the only part of pingd that pingctl imports (a test holds
that): the wire format (``protocol``), the DNS-SD records and the grammar of every announced
value (``service``), address formatting (``addresses``), CURVE key files (``keys``), bounded
and safe file handling (``files``), one-line usage errors (``usage``), and the ``/metrics``
HTTP server (``metricsserver``)."""
