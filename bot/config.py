"""Application settings, read once at start-up from the environment (and an optional .env)."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIN_SECRET_BYTES = 32  # CENSUSBOT_SECRET signs badges and binding codes (HMAC-SHA256)


class Settings(BaseSettings):
    """Every knob the operator can turn; names of the stable contract are product.md §4."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    bot_token: SecretStr = Field(default=SecretStr(""), alias="BOT_TOKEN")
    telegram_api_base: str | None = Field(default=None, alias="TELEGRAM_API_BASE")
    database_url: str = Field(default="sqlite+aiosqlite:///censusbot.sqlite3", alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    censusbot_secret: SecretStr = Field(default=SecretStr(""), alias="CENSUSBOT_SECRET")

    timezone: str = Field(default="Asia/Shanghai", alias="CENSUSBOT_TIMEZONE")
    default_locale: str = Field(default="zh_CN", alias="CENSUSBOT_DEFAULT_LOCALE")

    # Webhook mode (`censusbot run --webhook`).
    webhook_url: str | None = Field(default=None, alias="WEBHOOK_URL")
    webhook_secret: SecretStr = Field(default=SecretStr(""), alias="WEBHOOK_SECRET")
    webhook_host: str = Field(default="127.0.0.1", alias="WEBHOOK_HOST")
    webhook_port: int = Field(default=8080, alias="WEBHOOK_PORT")
    webhook_path: str = Field(default="/telegram/webhook", alias="WEBHOOK_PATH")

    # Update processing.
    update_workers: int = Field(default=16, alias="CENSUSBOT_UPDATE_WORKERS")
    polling_timeout: int = Field(default=25, alias="CENSUSBOT_POLLING_TIMEOUT")
    # Poison updates: a handler that raises or runs longer than UPDATE_TIMEOUT seconds is
    # retried up to UPDATE_ATTEMPTS starts in all (restarts included), then parked.
    update_timeout: float = Field(default=120.0, alias="CENSUSBOT_UPDATE_TIMEOUT")
    update_attempts: int = Field(default=3, alias="CENSUSBOT_UPDATE_ATTEMPTS")
    # Done and parked inbox rows are pruned after this many days (on start, then daily).
    inbox_retention_days: int = Field(default=14, alias="CENSUSBOT_INBOX_RETENTION_DAYS")
    # Seconds the sender's lease lasts unrenewed (it is renewed every third of it): how soon
    # another process takes the outbox over when its sender dies.
    outbox_lease_ttl: float = Field(default=15.0, alias="CENSUSBOT_OUTBOX_LEASE_TTL")
    # The same for the scheduler (renewed every third of it, at most every 10 s).
    scheduler_lease_ttl: float = Field(default=30.0, alias="CENSUSBOT_SCHEDULER_LEASE_TTL")

    # Supervised receiving: every failure of getUpdates, of storing updates or of the webhook
    # registration is retried with exponential backoff (jittered) from RETRY_INITIAL up to
    # RETRY_MAX seconds; a failure that lasts is logged again every ERROR_LOG_INTERVAL seconds.
    retry_initial: float = Field(default=1.0, alias="CENSUSBOT_RETRY_INITIAL")
    retry_max: float = Field(default=30.0, alias="CENSUSBOT_RETRY_MAX")
    error_log_interval: float = Field(default=60.0, alias="CENSUSBOT_ERROR_LOG_INTERVAL")
    webhook_check_interval: float = Field(default=60.0, alias="CENSUSBOT_WEBHOOK_CHECK_INTERVAL")
    # GET /healthz: on the webhook server; in polling mode on HEALTH_HOST:HEALTH_PORT when set.
    # 503 when receiving has failed for longer than HEALTH_THRESHOLD seconds or the database
    # does not answer within HEALTH_DB_TIMEOUT seconds.
    health_port: int | None = Field(default=None, alias="CENSUSBOT_HEALTH_PORT")
    health_host: str = Field(default="127.0.0.1", alias="CENSUSBOT_HEALTH_HOST")
    health_threshold: float = Field(default=60.0, alias="CENSUSBOT_HEALTH_THRESHOLD")
    health_db_timeout: float = Field(default=2.0, alias="CENSUSBOT_HEALTH_DB_TIMEOUT")
    # FSM state in Redis (REDIS_URL): attempts before telling the user to try again later.
    redis_attempts: int = Field(default=3, alias="CENSUSBOT_REDIS_ATTEMPTS")

    # Public lookups (anti-scraping).
    lookup_limit_per_minute: int = Field(default=10, alias="CENSUSBOT_LOOKUPS_PER_MINUTE")
    lookup_limit_per_day: int = Field(default=100, alias="CENSUSBOT_LOOKUPS_PER_DAY")
    lookup_scan_window_minutes: int = Field(default=10, alias="CENSUSBOT_LOOKUP_SCAN_WINDOW")
    lookup_scan_threshold: int = Field(default=4, alias="CENSUSBOT_LOOKUP_SCAN_THRESHOLD")
    # lookups of one office's IDs (one ID prefix) by all accounts together per scan window
    lookup_office_limit: int = Field(default=30, alias="CENSUSBOT_LOOKUP_OFFICE_LIMIT")

    # Days a revoked roster record keeps its phone number before it is blanked.
    phone_retention_days: int = Field(default=30, alias="CENSUSBOT_PHONE_RETENTION_DAYS")

    # Account binding with one-time codes.
    binding_code_ttl_hours: int = Field(default=72, alias="CENSUSBOT_BINDING_CODE_TTL_HOURS")
    binding_max_failures: int = Field(default=5, alias="CENSUSBOT_BINDING_MAX_FAILURES")
    binding_lock_minutes: int = Field(default=60, alias="CENSUSBOT_BINDING_LOCK_MINUTES")

    # Outbox delivery limits (Telegram: ~30/s overall, 1/s per chat, 20/min per group).
    outbox_rate_per_second: float = Field(default=25.0, alias="CENSUSBOT_OUTBOX_RATE")
    outbox_per_chat_interval: float = Field(default=1.0, alias="CENSUSBOT_OUTBOX_CHAT_INTERVAL")
    outbox_group_per_minute: int = Field(default=20, alias="CENSUSBOT_OUTBOX_GROUP_PER_MINUTE")

    # People's quiet hours (local time).
    quiet_start: time = Field(default=time(22, 0), alias="CENSUSBOT_QUIET_START")
    quiet_end: time = Field(default=time(7, 30), alias="CENSUSBOT_QUIET_END")

    data_dir: Path = Field(default=PROJECT_ROOT / "data", alias="CENSUSBOT_DATA_DIR")
    run_scheduler: bool = Field(default=True, alias="CENSUSBOT_SCHEDULER")

    # FAQ: content directory (None = the curated content shipped in faq/content), how often
    # (seconds) content files are checked for changes, and the Q&A desk's reminders.
    faq_dir: Path | None = Field(default=None, alias="CENSUSBOT_FAQ_DIR")
    faq_reload_seconds: float = Field(default=5.0, alias="CENSUSBOT_FAQ_RELOAD_SECONDS")
    # where the embeddings of the FAQ texts are cached between restarts (None = ~/.cache)
    faq_cache: Path | None = Field(default=None, alias="CENSUSBOT_FAQ_CACHE")
    # the FAQ's own lane: questions per user per minute, and questions waiting for a search
    faq_per_minute: int = Field(default=10, alias="CENSUSBOT_FAQ_PER_MINUTE")
    faq_queue: int = Field(default=4, alias="CENSUSBOT_FAQ_QUEUE")
    desk_remind_after_minutes: int = Field(default=240, alias="CENSUSBOT_DESK_REMIND_AFTER")
    desk_reminder_rounds: int = Field(default=3, alias="CENSUSBOT_DESK_REMINDER_ROUNDS")

    @property
    def tz(self) -> ZoneInfo:
        """The zone people live in (Asia/Shanghai by default)."""
        return ZoneInfo(self.timezone)

    def signing_key(self) -> bytes:
        """The key that signs badge tokens and binding codes; refused when unset.

        Badges and codes made with one key verify only with the same key, so a process
        without CENSUSBOT_SECRET must not make up a key of its own.
        """
        secret = self.censusbot_secret.get_secret_value()
        if not secret:
            raise ValueError("CENSUSBOT_SECRET is not set (it signs badge QR codes and "
                             "binding codes; use the same long random value as the bot)")
        key = secret.encode()
        if len(key) < MIN_SECRET_BYTES:
            raise ValueError(
                f"CENSUSBOT_SECRET is too weak: {len(key)} bytes, at least {MIN_SECRET_BYTES} "
                "are required (anyone who guesses it can forge badges). Make one with: "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
        return key
