"""tsvq: the NC-VQVAE / TimeVQVAE companion library."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tsvq")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0"
