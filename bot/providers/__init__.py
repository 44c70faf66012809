"""Outside services behind small interfaces: the real client and a local stand-in, chosen from settings."""
