"""mailflow: reads, files and answers the proposals mailed to INET's stages mailbox."""

__version__ = "0.1.0"
