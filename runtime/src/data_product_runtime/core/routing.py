"""A/B routing: which model variant answers a request, sticky by a caller-supplied key."""

import hashlib
import random
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from data_product_runtime.core.aliases import ALIAS_PATTERN


class Variant(BaseModel):
    """A named share of the traffic, answered by a model given as an alias or a version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=ALIAS_PATTERN.pattern)]
    model: str | None = Field(
        None, min_length=1, description="Alias or version; unset: production, else the newest."
    )
    weight: float = Field(gt=0, allow_inf_nan=False)


class RoutingConfig(BaseModel):
    """Variants with their weights, and models that score every request in the shadow."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variants: tuple[Variant, ...] = Field(min_length=1)
    shadow: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [variant.name for variant in self.variants]
        if len(set(names)) != len(names):
            msg = f"variant names must be unique, got {names}"
            raise ValueError(msg)
        return self

    @classmethod
    def single(cls, model: str | None) -> Self:
        """All traffic to one model: the default when no routing is configured."""
        return cls(variants=(Variant(name="main", model=model, weight=1.0),))

    def variant(self, name: str) -> Variant:
        for variant in self.variants:
            if variant.name == name:
                return variant
        known = ", ".join(variant.name for variant in self.variants)
        msg = f"unknown variant '{name}' (known: {known})"
        raise KeyError(msg)

    def assign(self, key: str | None, rng: random.Random | None = None) -> Variant:
        """The same key always gets the same variant; without a key, a random one by weight."""
        if key is None:
            point = (rng or random).random()  # a traffic split, not a secret
        else:
            digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
            point = int.from_bytes(digest) / 2**64
        total = sum(variant.weight for variant in self.variants)
        threshold = 0.0
        for variant in self.variants:
            threshold += variant.weight / total
            if point < threshold:
                return variant
        return self.variants[-1]
