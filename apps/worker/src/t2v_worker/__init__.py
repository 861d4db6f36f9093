"""t2v worker: loads a text-to-video pipeline once and serves jobs over the stdio protocol."""

__version__ = "0.1.0"
