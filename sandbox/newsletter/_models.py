"""Request bodies of the newsletter API (listmonk's field names). Unknown fields are refused."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "HashesAdd",
    "ImportRequest",
    "ImportSubscriber",
    "ListsChange",
    "SubscriberCreate",
    "SubscriberUpdate",
]

Email = Annotated[str, StringConstraints(min_length=3, max_length=254)]
Name = Annotated[str, StringConstraints(max_length=200)]
Hash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
SubscriberStatus = Literal["enabled", "blocklisted"]
_Ids = Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=1000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubscriberCreate(_Body):
    email: Email
    name: Name = ""
    status: SubscriberStatus = "enabled"
    lists: _Ids = Field(default_factory=list)
    attribs: dict[str, Any] = Field(default_factory=dict)
    preconfirm_subscriptions: bool = False


class SubscriberUpdate(_Body):
    """Fields left out stay as they are; `lists` adds subscriptions, it never removes any.
    Setting `status` to blocklisted unsubscribes the subscriber from every list, as in listmonk.
    """

    email: Email | None = None
    name: Name | None = None
    status: SubscriberStatus | None = None
    attribs: dict[str, Any] | None = None
    lists: _Ids | None = None
    preconfirm_subscriptions: bool = False


class ListsChange(_Body):
    ids: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=1000)]
    action: Literal["add", "remove", "unsubscribe"]
    target_list_ids: Annotated[
        list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=1000)
    ]
    status: Literal["confirmed", "unconfirmed", "unsubscribed"] | None = None


class HashesAdd(_Body):
    hashes: Annotated[list[Hash], Field(min_length=1, max_length=1000)]


class ImportSubscriber(_Body):
    email: Email
    name: Name = ""
    attribs: dict[str, Any] = Field(default_factory=dict)


class ImportRequest(_Body):
    """A JSON stand-in for listmonk's CSV import: subscribe these people to `lists`."""

    mode: Literal["subscribe"] = "subscribe"
    subscribers: Annotated[list[ImportSubscriber], Field(min_length=1, max_length=1000)]
    lists: _Ids = Field(default_factory=list)
    overwrite: bool = False
