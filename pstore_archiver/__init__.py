"""pstore-archiver: move kernel crash records out of pstore into a durable archive."""

__version__ = "0.1.0"
