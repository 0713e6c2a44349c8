"""Settings of the locally started services, read once from the environment.

Ports use the ``FRAUDSCORE_LOCAL_`` prefix so they never collide with the worker's own settings.
A few fields keep names that are shared with the rest of the project or with the platform
(``FRAUDSCORE_SERVICES_DIR``, ``FRAUDSCORE_CACHE_DIR``, ``XDG_CACHE_HOME``, and the two explicit
service addresses the worker also reads); they are declared here with their exact names so that
no module in devstack calls ``os.getenv``. A ``.env`` file in the working directory is read too,
as the worker's settings do.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK = "127.0.0.1"


class DevstackSettings(BaseSettings):
    """Where and on which ports the local Kafka broker and Redis server run."""

    # .env like the worker's settings, so one file configures tests, demo and workers alike
    model_config = SettingsConfigDict(
        env_prefix="FRAUDSCORE_LOCAL_",
        env_file=".env",
        frozen=True,
        extra="ignore",
        validate_by_name=True,
    )

    kafka_port: int = Field(default=19092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=19093, ge=1, le=65535)
    redis_port: int = Field(default=16379, ge=1, le=65535)
    kafka_heap_mb: int = Field(default=512, ge=128)

    services_dir: Path | None = Field(default=None, validation_alias="FRAUDSCORE_SERVICES_DIR")
    cache_dir: Path | None = Field(default=None, validation_alias="FRAUDSCORE_CACHE_DIR")
    xdg_cache_home: Path | None = Field(default=None, validation_alias="XDG_CACHE_HOME")

    kafka_bootstrap_servers: str | None = Field(
        default=None, validation_alias="FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS"
    )
    redis_url: str | None = Field(default=None, validation_alias="FRAUDSCORE_REDIS_URL")

    def state_dir(self) -> Path:
        """Runtime state (data, configs, pids, logs); per checkout so stacks do not collide."""
        return (self.services_dir or Path.cwd() / "var" / "services").absolute()

    def jar_cache_dir(self) -> Path:
        """Downloaded jars are shared by every checkout, so the second start is offline."""
        if self.cache_dir is not None:
            return self.cache_dir.expanduser().absolute()
        base = self.xdg_cache_home or Path.home() / ".cache"
        return (base.expanduser() / "fraudscore").absolute()

    @property
    def kafka_bootstrap(self) -> str:
        """Bootstrap address of the local broker."""
        return f"{LOOPBACK}:{self.kafka_port}"

    @property
    def local_redis_url(self) -> str:
        """URL of the local Redis server (database 0)."""
        return f"redis://{LOOPBACK}:{self.redis_port}/0"
