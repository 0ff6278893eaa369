"""Job runner: the chunking job function and the in-process runner that schedules it."""
