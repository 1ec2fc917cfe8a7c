"""Whether a URL's host can be reached at all, told in one quick connection attempt.

Code with a fallback (pretrained weights: a local file, or training from scratch) asks this
before a download, so that offline it fails at once instead of waiting through the
download's retries.

    >>> unreachable("http://127.0.0.1:9/weights.pth")   # nothing listens on port 9
    '127.0.0.1:9: [Errno 111] Connection refused'
"""

from __future__ import annotations

import socket
import urllib.parse
import urllib.request

__all__ = ["unreachable"]


def unreachable(url: str, timeout: float = 3.0) -> str | None:
    """Why `url`'s host (or the proxy urllib would go through) can't be connected to, or None
    when it can. Anything but http(s) (a file, a local path) counts as reachable."""
    parts = urllib.parse.urlparse(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname):
        parts = urllib.parse.urlparse(proxy if "://" in proxy else f"http://{proxy}")
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as e:  # a malformed port in the URL or the proxy setting
        return f"{host}: {e}"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as e:  # refused, unknown host, no route, timeout
        return f"{host}:{port}: {e}"
