"""One settings object for the whole service, read from the environment (names as in ARCHITECTURE.md)."""

from __future__ import annotations

from functools import cached_property

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_TOKEN = "dev-token"
DEV_APP_ID = "wxdev0000000000000"
DEV_APP_SECRET = "dev-secret"
WECHAT_API_BASE_URL = "https://api.weixin.qq.com/cgi-bin/"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    wechat_token: str = DEV_TOKEN
    wechat_app_id: str = DEV_APP_ID
    wechat_app_secret: str = DEV_APP_SECRET
    wechat_aes_key: str | None = None
    # Unset: WeChat's own API, or the built-in emulator when running on dev credentials.
    wechat_api_base_url: str | None = None
    # Each WeChat API call (connect, then each read) gives up after this long; a job retries it later.
    wechat_timeout_s: float = 3.0
    # Back-off of a failed job, one entry per retry (JOB_RETRY_INTERVALS_S='[0, 0]' in tests). Eight retries over
    # about 40 minutes: with WeChat failing 30 % of calls, one push in 50 000 is given up instead of one in 400.
    job_retry_intervals_s: list[int] = [2, 10, 30, 60, 120, 300, 600, 1200]
    # WeChat's OAuth authorize page (the emulator's in tests).
    wechat_oauth_url: str = "https://open.weixin.qq.com/connect/"
    # Back-office API: staff name -> bearer token (env STAFF_TOKENS as JSON). Empty: the API refuses everyone.
    staff_tokens: dict[str, str] = {}
    # Human agents: their hours (weekdays 1=Mon..7=Sun, local time), how long a hand-off lasts without a close
    # event, and how many messages in a row the bot may not understand before it offers a human by itself.
    agent_weekdays: str = "1-5"
    agent_hours: str = "09:00-18:00"
    handoff_minutes: int = 30
    handoff_after_misses: int = 3
    # Send pushes to this customer-service account when transferring to agents (issue 7 uses it).
    wechat_kf_account: str | None = None

    redis_url: str | None = None
    public_base_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000

    # The callback protocol's own limits.
    timestamp_window_s: int = 300
    nonce_ttl_s: int = 300
    max_body_bytes: int = 64 * 1024
    max_upload_bytes: int = 4 * 1024 * 1024
    # WeChat gives up after 5 s; leave room for the network on both sides.
    reply_deadline_s: float = 4.0
    redis_timeout_s: float = 1.0
    conversation_ttl_s: int = 7 * 24 * 3600
    # Per-user flood control: at most this many messages per window (0 = off). Counted in the admission round trip.
    rate_limit_messages: int = 20
    rate_limit_window_s: int = 10
    dedup_ttl_s: int = 600
    # The reply itself is kept only for WeChat's retries (three, 5 s apart); the seen marker above still
    # recognises the message for 10 minutes. Most of a message's Redis footprint is its reply, so this
    # is what keeps the per-message memory small (measured by bench/load.py).
    retry_reply_ttl_s: int = 60
    lock_ttl_ms: int = 10_000

    faq_path: str | None = None
    # Uploaded documents and generated files (the local file store); an object store replaces it in production.
    data_dir: str = "var"
    # Days an application's personal data (record and files) is kept after its last change.
    retention_days: int = 180
    # Signs links to forms and mobile pages; must be set (and the same on every machine) with real credentials.
    secret_key: str | None = None
    log_level: str = "INFO"

    aliyun_access_key_id: str | None = None
    aliyun_access_key_secret: str | None = None
    aliyun_region: str = "cn-shenzhen"
    # Every Aliyun call gives up after connecting this long, then reading this long (per product: OCR may take
    # seconds on a photo and runs in a job; the identity page and a notice cannot wait as long). No SDK retries.
    aliyun_connect_timeout_s: float = 3.0
    aliyun_ocr_timeout_s: float = 8.0
    aliyun_cloudauth_timeout_s: float = 6.0
    aliyun_sms_timeout_s: float = 5.0
    # Face verification (Cloudauth 2019-03-07): the scene configured in the Aliyun console; endpoint override for tests.
    aliyun_face_scene_id: int | None = None
    aliyun_cloudauth_endpoint: str | None = None

    # WeChat Pay (API v2 through wechatpy); unset = the sandbox pay page of the embedded default.
    wechat_pay_mch_id: str | None = None
    wechat_pay_api_key: str | None = None
    wechat_pay_base_url: str | None = None  # tests point it at a local fake
    # Alipay is offered as a plain link when a gateway URL is configured (the hall's 支付宝 option).
    alipay_link_base: str | None = None
    # Where corporate transfers go (shown to the user with the order).
    transfer_account_name: str = "深圳市电子商务安全证书管理有限公司"
    transfer_bank: str = "（配置 TRANSFER_BANK）"
    transfer_account: str = "（配置 TRANSFER_ACCOUNT）"
    # Unset: ocr-api.<region>.aliyuncs.com; tests point it at a local fake ("http://127.0.0.1:<port>").
    aliyun_ocr_endpoint: str | None = None
    # SMS notices (Dysmsapi SendSms): the approved signature; unset with credentials = the local outbox.
    aliyun_sms_sign_name: str | None = None
    aliyun_sms_endpoint: str | None = None  # unset: dysmsapi.aliyuncs.com; tests point it at a local fake
    # Template messages per notification kind (TEMPLATE_IDS='{"approved": "tmpl-…"}'); a kind without one
    # goes by customer-service message or SMS.
    template_ids: dict[str, str] = {}

    @field_validator("wechat_aes_key")
    @classmethod
    def _aes_key_shape(cls, value: str | None) -> str | None:
        if value is not None and value != "" and len(value) != 43:
            raise ValueError("WECHAT_AES_KEY must be the 43-character EncodingAESKey")
        return value or None

    @field_validator("redis_url", "public_base_url", "wechat_api_base_url", "faq_path", "wechat_kf_account", "secret_key",
                     "aliyun_cloudauth_endpoint", "wechat_pay_mch_id", "wechat_pay_api_key", "wechat_pay_base_url",
                     "alipay_link_base", "aliyun_sms_sign_name", "aliyun_sms_endpoint")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @property
    def signing_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        if self.sandbox:
            return "dev-secret-key-embedded-default"
        raise RuntimeError("SECRET_KEY must be set when real WeChat credentials are configured")

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def sandbox(self) -> bool:
        """Dev credentials: the emulator and the simulator may be mounted; never with real ones."""
        return self.wechat_app_secret == DEV_APP_SECRET

    @cached_property
    def base_url(self) -> str:
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @cached_property
    def api_base_url(self) -> str:
        if self.wechat_api_base_url:
            return self.wechat_api_base_url.rstrip("/") + "/"
        if self.sandbox:
            return f"{self.base_url}/emulator/cgi-bin/"
        return WECHAT_API_BASE_URL


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]


__all__ = ["Settings", "load_settings", "DEV_TOKEN", "DEV_APP_ID", "DEV_APP_SECRET"]
