"""Migration revisions, applied in order by `chunkyard.storage.migrate`."""
