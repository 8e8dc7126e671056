"""pingctl's commands, one module each: the options, the checks that are about flags, and one
call to the module that does the work (``pingctl.pinging``, ``pingctl.querying``,
``pingctl.listing``, ``pingctl.trust``).

Command modules import typer and the light parts of pingctl only; the work is imported inside
each command, so ``pingctl --help`` loads neither ZeroMQ nor zeroconf.
"""
