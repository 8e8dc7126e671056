"""`pingctl keys show`: the client's public key, made on first use and the same after, or a
certificate for a daemon's --allow-clients directory."""

from __future__ import annotations

from pingd.shared.keys import is_key


def test_the_key_is_made_once_and_shown_on_one_line(pingctl, config_dir):
    first = pingctl("keys", "show")
    assert first.code == 0 and first.out.endswith("\n") and is_key(first.out.strip())
    assert pingctl("keys", "show").out == first.out
    assert (config_dir / "client.key").exists()
    assert (
        (config_dir / "client.key_secret").read_text().startswith("#   ZeroMQ CURVE certificate (written by pingctl)\n")
    )


def test_the_certificate_carries_the_same_public_key_and_no_secret(pingctl):
    public = pingctl("keys", "show").out.strip()
    cert = pingctl("keys", "show", "--cert").out
    assert f'public-key = "{public}"' in cert and "secret-key" not in cert
    assert cert.startswith("#   ZeroMQ CURVE certificate (written by pingctl)\n")  # not pingd's key
