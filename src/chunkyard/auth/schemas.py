"""Request and response bodies of the auth routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)

    @field_validator("username")
    @classmethod
    def no_control_characters(cls, value: str) -> str:
        # No username has them (PostgreSQL text cannot even hold NUL): say so, never a 500.
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("must not contain control characters")
        return value


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


class UserOut(BaseModel):
    id: uuid.UUID
    username: str
    is_admin: bool
    created_at: datetime


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


class ApiKeyOut(BaseModel):
    """An API key as its owner sees it (the secret itself was shown once, at creation)."""

    id: uuid.UUID
    name: str = Field(description="What the key is for (empty when unnamed).")
    prefix: str = Field(description="The key's public part: it starts `cky_<prefix>_`.")
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="When the key last authenticated a request (to about a minute)."
    )


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]
