"""v6ops: plan, secure, watch and verify an IPv6 / dual-stack network."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("v6ops")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"
