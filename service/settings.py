"""The service's settings: the store, content limits and matchers it opens, and how it keeps them in step."""

from pathlib import Path

import msgspec

from matcher.settings import MatcherSettings
from registry.settings import ContentLimits, StoreSettings


class ServiceSettings(msgspec.Struct, frozen=True, kw_only=True):
    storage: StoreSettings = msgspec.field(default_factory=StoreSettings)
    limits: ContentLimits = msgspec.field(default_factory=ContentLimits)
    matching: MatcherSettings = msgspec.field(default_factory=MatcherSettings)
    follow_interval: float = 2.0  # seconds between polls of the change feed (other replicas, the CLI)
    store_check_content: bool = False  # keep every submitted output (by default only its SHA-256)
    keep_matched_outputs: bool = True  # keep outputs that matched a work: the evidence owners and auditors see
    log_signing_key: str | None = None  # Ed25519 private key (PEM) signing the audit log's heads; None: made once
    job_stale_seconds: float = 120.0  # a bulk file claimed this long ago by a worker that died is taken up again
    head_interval: float = 300.0  # seconds between signed heads published to data_dir/heads for witnesses
    public_bank: bool = False  # the opt-out bank readable without a key (GET /v1/bank)
    public_url: str | None = None  # the registry's public base URL in signed declarations; None: http://HOST:PORT
    public_matching: bool = True  # soft-binding resolution (/v1/matches/by*) answers without a key
    dispute_interval: float = 60.0  # seconds between rounds that expire disputes whose deadline passed
    webhook_interval: float = 2.0  # seconds between rounds that send due webhook deliveries
    webhook_timeout: float = 5.0  # seconds a webhook receiver has to answer
    webhook_max_attempts: int = 8  # deliveries retried with exponential backoff (30 s, 1 min, 2 min, ...)
    allow_private_addresses: bool = False  # webhooks and domain checks may reach loopback and private addresses
    domain_check_timeout: float = 5.0  # seconds to fetch a domain's verification file

    @property
    def data_dir(self) -> Path:
        return self.storage.data_dir

    @property
    def indexes(self) -> Path:
        return self.matching.index_dir or self.storage.data_dir / "indexes"
