"""The mesh: with ``mesh = true`` a daemon finds its peers and probes each on a jittered schedule,
as every server of Pingmesh does, and answers a PEERS request with what it learned.

``prober`` is the way in (its ``Mesh`` thread); ``peers`` finds whom to probe, ``plan`` decides
when (pure), ``table`` keeps what each probe said (pure).
"""
