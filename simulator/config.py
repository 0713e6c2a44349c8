"""The parameters of one simulated dataset, as a frozen model.

The defaults are the published benchmark (5,000 customers, 10,000 terminals, 183 days from
2018-04-01, radius 5), so ``SimulationConfig()`` is the faithful dataset. Everything else is an
extension that is off by default, so switching one on never changes what the benchmark means.

The per-day compromise counts of fraud scenarios 2 and 3 default to the published 2 terminals and
3 customers *per 10,000 terminals / 5,000 customers*, so a small demo dataset keeps the benchmark's
fraud rate instead of being flooded with frauds; at the default sizes they are exactly 2 and 3.
"""

from __future__ import annotations

from datetime import date
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

DAY_S = 86_400
PUBLISHED_CUSTOMERS = 5_000
PUBLISHED_TERMINALS = 10_000
PUBLISHED_TERMINALS_PER_DAY = 2.0
PUBLISHED_CUSTOMERS_PER_DAY = 3.0
CARD_TESTING_VICTIMS_PER_DAY = 2.0  # per 5,000 customers: ~20 tests a day next to ~85 frauds
TAKEOVER_VICTIMS_PER_DAY = 10.0  # per 5,000 customers: ~70 takeover frauds a day next to ~85
# Fields added after datasets were first published with their config: left out of the stored
# metadata and of the event-id digest while unset, so older configs keep bit-identical output.
LATER_FIELDS = ("concept_drift_day", "concept_drift_per_day")


class SimulationConfig(BaseModel):
    """Sizes, seed and extension switches of one dataset; equal configs give equal frames."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_customers: int = Field(PUBLISHED_CUSTOMERS, ge=1, le=10_000_000)
    n_terminals: int = Field(PUBLISHED_TERMINALS, ge=1, le=10_000_000)
    n_days: int = Field(183, ge=1, le=3_650)
    start_date: date = date(2018, 4, 1)
    radius: float = Field(5.0, gt=0, le=200, description="Customers use terminals this close")
    seed: int = Field(0, ge=0, lt=2**63)

    # Fraud scenarios (None = the published density, scaled to the population size).
    compromised_terminals_per_day: float | None = Field(None, ge=0)
    compromised_customers_per_day: float | None = Field(None, ge=0)

    # Extensions, all off by default.
    attributes: bool = Field(False, description="Add MERCHANT_CATEGORY, CHANNEL and COUNTRY")
    ecommerce_share: float = Field(0.25, ge=0, le=1, description="Share of e-commerce payments")
    drift_day: int | None = Field(None, ge=0, description="First day of the drift injection")
    drift_amount_factor: float = Field(1.0, gt=0, le=100, description="Amounts x this from then")
    drift_ecommerce_share: float | None = Field(None, ge=0, le=1, description="New e-com share")
    card_testing_day: int | None = Field(None, ge=0, description="First day of card testing")
    card_testing_per_day: float | None = Field(None, ge=0, description="Victims per day")
    concept_drift_day: int | None = Field(
        None, ge=0, description="First day of night account takeovers (scenario 5)"
    )
    concept_drift_per_day: float | None = Field(None, ge=0, description="Takeovers per day")

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        """Reject switches that would silently do nothing, so a typo cannot fake a drift run."""
        drifting = self.drift_amount_factor != 1.0 or self.drift_ecommerce_share is not None
        if drifting and self.drift_day is None:
            raise ValueError("drift_amount_factor / drift_ecommerce_share need drift_day")
        if self.drift_ecommerce_share is not None and not self.attributes:
            raise ValueError("drift_ecommerce_share needs attributes=True (the CHANNEL column)")
        if self.concept_drift_per_day is not None and self.concept_drift_day is None:
            raise ValueError("concept_drift_per_day needs concept_drift_day")
        return self

    def metadata(self) -> dict[str, object]:
        """The config as JSON data, without the later fields that are unset (``LATER_FIELDS``)."""
        data = self.model_dump(mode="json")
        return {k: v for k, v in data.items() if not (k in LATER_FIELDS and v is None)}

    def terminals_per_day(self) -> float:
        """Expected compromised terminals per day (scenario 2)."""
        if self.compromised_terminals_per_day is not None:
            return self.compromised_terminals_per_day
        return PUBLISHED_TERMINALS_PER_DAY * self.n_terminals / PUBLISHED_TERMINALS

    def customers_per_day(self) -> float:
        """Expected compromised customers per day (scenario 3)."""
        if self.compromised_customers_per_day is not None:
            return self.compromised_customers_per_day
        return PUBLISHED_CUSTOMERS_PER_DAY * self.n_customers / PUBLISHED_CUSTOMERS

    def card_victims_per_day(self) -> float:
        """Expected card-testing victims per day (scenario 4, when switched on)."""
        if self.card_testing_per_day is not None:
            return self.card_testing_per_day
        return CARD_TESTING_VICTIMS_PER_DAY * self.n_customers / PUBLISHED_CUSTOMERS

    def takeover_victims_per_day(self) -> float:
        """Expected night-takeover victims per day (scenario 5, the concept drift)."""
        if self.concept_drift_per_day is not None:
            return self.concept_drift_per_day
        return TAKEOVER_VICTIMS_PER_DAY * self.n_customers / PUBLISHED_CUSTOMERS
