"""Tokens and TLS for the wire protocol (docs/protocol.md §12).

A token is a shared secret: the server reads it from a file or the ``CLANKERS_TOKEN`` environment
variable (never from the command line, where every user of the machine sees it in the process list) and
every client sends it in its ``init``. The server keeps only the token's SHA-256 digest and compares
digests with :func:`hmac.compare_digest`, so the comparison takes the same time whatever the guess and
however long it is.

TLS uses Python's :mod:`ssl` on both sides: the server loads a PEM certificate chain and key; clients
verify the server against the system's CAs (``tls=True``) or a CA file of their own (``ca_file``), with
hostname checking on, so a token never travels to an impostor.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import ssl
import stat
from collections.abc import Mapping
from pathlib import Path

from clankers.errors import ConfigError

log = logging.getLogger("clankers.server")

TOKEN_ENV = "CLANKERS_TOKEN"


def load_token(token_file: str | Path | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The token from ``token_file`` if given, else from ``$CLANKERS_TOKEN``, else ``None``.

    Surrounding whitespace (a trailing newline) is dropped. A token file that other users can read is
    accepted with a warning, as ssh does for keys it can still use.
    """
    if token_file is not None:
        path = Path(token_file)
        try:
            text = path.read_text(encoding="utf-8")
            mode = path.stat().st_mode
        except OSError as exc:
            raise ConfigError(f"cannot read the token file {path}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"the token file {path} is not UTF-8 text") from exc
        token = text.strip()
        if not token:
            raise ConfigError(f"the token file {path} is empty; write a random token into it")
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("token file %s is accessible by other users; run: chmod 600 %s", path, path)
        return token
    value = (os.environ if environ is None else environ).get(TOKEN_ENV, "").strip()
    return value or None


class TokenCheck:
    """Constant-time check of a presented token against the configured one (kept only as a digest)."""

    def __init__(self, token: str) -> None:
        self._digest = _digest(token)

    def matches(self, presented: object) -> bool:
        if not isinstance(presented, str):
            return False
        return hmac.compare_digest(_digest(presented), self._digest)


def _digest(token: str) -> bytes:
    # surrogatepass: JSON may carry lone surrogates ("\\ud800"); they must not raise, only mismatch.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def server_tls_context(cert: str | Path, key: str | Path | None = None) -> ssl.SSLContext:
    """A TLS 1.2+ server context with the PEM certificate chain ``cert`` and its private ``key``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=str(cert), keyfile=None if key is None else str(key))
    except FileNotFoundError as exc:
        raise ConfigError(f"TLS certificate or key not found: {exc.filename}") from exc
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"cannot load the TLS certificate {cert} and key {key}: {exc}; both must be PEM files and the "
            "key must belong to the certificate"
        ) from exc
    return context


def client_tls_context(
    tls: bool | ssl.SSLContext = False, ca_file: str | Path | None = None
) -> ssl.SSLContext | None:
    """What a client wraps its socket with: ``None`` (plain TCP), or a verifying TLS context.

    ``tls=True`` trusts the system's CAs; ``ca_file`` (which implies TLS) trusts that CA bundle instead,
    e.g. the certificate of a server with a self-signed one. An :class:`ssl.SSLContext` is used as is.
    """
    if isinstance(tls, ssl.SSLContext):
        return tls
    if not tls and ca_file is None:
        return None
    try:
        context = ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
    except FileNotFoundError as exc:
        raise ConfigError(f"CA file not found: {ca_file}") from exc
    except ssl.SSLError as exc:
        raise ConfigError(f"cannot load the CA file {ca_file}: {exc}; it must be a PEM bundle") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
