"""The use cases: what creators, operators, auditors and admins can do, under one access policy."""
