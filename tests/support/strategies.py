"""hypothesis strategies for the wire contract's values."""

from __future__ import annotations

from hypothesis import strategies as st

from pingd.shared import protocol

_VALUES = {
    int: st.integers(0, protocol.MAX_COUNT),
    float: st.floats(0, 1e15, allow_nan=False) | st.integers(0, 10**15),
    str: st.text(max_size=60),
}

#: Any STATUS_REPLY object the schema allows, now and then with a key from a later version.
statuses = st.fixed_dictionaries(
    {
        key: (_VALUES[kind] | st.none()) if nullable else _VALUES[kind]
        for key, (kind, nullable) in protocol.STATUS_SCHEMA.items()
    },
    optional={
        "a_later_key": st.integers() | st.text(),
        **{key: _VALUES[kind] for key, (kind, _) in protocol.OPTIONAL_STATUS_SCHEMA.items()},
    },
)
