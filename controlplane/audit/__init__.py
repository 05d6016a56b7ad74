"""The operators' audit log: every write an operator makes through the API, append-only."""
