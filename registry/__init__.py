"""The registry: accounts, keys, works, checks and the audit chain, and the stores that keep them."""
