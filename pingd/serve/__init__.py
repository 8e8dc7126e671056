"""Serving: the ROUTER socket and everything behind it. ``loop.Loop`` is the entry point
(receive → count → persist → answer); ``counter``, ``statefile`` and ``peers`` are pure;
``store``, ``persistence``, ``listener``, ``security``, ``descriptors`` and ``evictor`` are the
I/O around them. Used by ``pingd.daemon`` only."""
