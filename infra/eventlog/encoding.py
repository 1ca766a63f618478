"""How an event's state is stored: compiled msgspec JSON, decoded by the event class's own
annotations, for every event whose fields are all typed (the hot path of each write and
read); the library's tagged JSON for the rest, and for every event stored before (still
read, byte for byte as it was). docs/EVENT-LOG.md, "The stored format", says why it is safe.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    find_id_convertor,
)
from eventsourcing.utils import TopicError, get_topic, resolve_topic
from tillroll.aggregates.values import STORED_VALUES, stored_values

MARK = "_typed_"
"""The first key of a typed state; its value is the typed format's version (1)."""
FORMAT = 1
VERSION_KEY = "class_version"
"""Where the library stores an event's class version (only when above 1); so does ours."""
TYPED_PREFIX = b'{"_typed_":'
META_KEY = "__meta__"
SCALARS: frozenset[Any] = frozenset({str, int, bool, float, UUID, datetime, Decimal, type(None)})
"""What the tagged format could store besides registered values, lists and dicts."""
_ENCODER = msgspec.json.Encoder()
_JSON = msgspec.json.Decoder()


class Untyped(TypeError):
    """A field whose annotation the typed format cannot rebuild exactly (Any, a tuple, an
    unregistered class, ...): its class stays in the tagged format."""


def plain(hint: Any, seen: frozenset[type] = frozenset()) -> Any:
    """The annotation without its msgspec constraints (a stored value is rebuilt as stored,
    not validated again); Untyped if the typed format cannot rebuild it exactly."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return plain(args[0], seen)
    if hint in SCALARS:
        return hint
    if origin is list and args:
        return list[plain(args[0], seen)]  # type: ignore[misc]
    if origin is dict and args and plain(args[0], seen) is str:
        return dict[str, plain(args[1], seen)]  # type: ignore[misc]
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return plain(inner, seen) | None
    if hint in STORED_VALUES and hint not in seen:
        value_hints = typing.get_type_hints(hint, include_extras=True)
        for name in STORED_VALUES[hint].fields:
            plain(value_hints[name], seen | {hint})
        return hint
    raise Untyped(f"{hint!r} cannot be stored typed")


def rebuild(hint: Any, value: Any) -> Any:
    """A JSON value as the Python object `hint` (a plain annotation) says, without
    validation: the reader of last resort (an upcast event, or a class whose annotations
    changed since the event was written)."""
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return rebuild(next(a for a in args if a is not type(None)), value)
    if origin is list:
        return [rebuild(args[0], v) for v in value]
    if origin is dict:
        return {k: rebuild(args[1], v) for k, v in value.items()}
    if hint in STORED_VALUES and isinstance(value, dict):
        value_hints = typing.get_type_hints(hint, include_extras=True)
        return hint(**{k: rebuild(plain(value_hints[k]), v) for k, v in value.items()})
    if isinstance(value, str) and hint in (UUID, datetime, Decimal):
        return datetime.fromisoformat(value) if hint is datetime else hint(value)
    return value


class Codec:
    """One event class's typed state: its fields' plain annotations, and a compiled decoder
    of exactly those fields (plus the mark and the command's metadata)."""

    def __init__(self, cls: type) -> None:
        if not dataclasses.is_dataclass(cls):
            raise Untyped(f"{cls!r} is not a dataclass")
        all_hints = typing.get_type_hints(cls, include_extras=True)
        names = [f.name for f in dataclasses.fields(cls)]
        self.hints = {
            name: plain(all_hints[name])
            for name in names
            if name not in ("originator_id", "originator_version")
        }
        self.keys = frozenset(names)
        self.version: int = getattr(cls, "class_version", 1)
        fields: dict[str, Any] = {MARK: int, **self.hints}
        fields[VERSION_KEY] = typing.NotRequired[int]
        fields[META_KEY] = typing.NotRequired[dict[str, Any]]
        shape = typing.TypedDict(f"{cls.__qualname__}State", fields)  # type: ignore[operator]
        self.decoder = msgspec.json.Decoder(shape)

    def encode(self, state: dict[str, Any]) -> bytes | None:
        """The typed bytes, or None when they would not decode to an equal state (a field
        holding something other than its annotation says: stored tagged instead)."""
        try:
            data = _ENCODER.encode(state)
            same = self.decoder.decode(data) == state
        except (msgspec.EncodeError, msgspec.ValidationError, TypeError):
            return None
        return data if same else None

    def decode(self, data: bytes, upcast: type) -> dict[str, Any]:
        """The state, with the mark and the metadata removed, upcast to the class's version."""
        try:
            state = self.decoder.decode(data)
        except msgspec.ValidationError:
            state = None
        if state is not None and state.pop(VERSION_KEY, 1) == self.version:
            del state[MARK]
            state.pop(META_KEY, None)
            return state
        state = _JSON.decode(data)
        del state[MARK]
        version = state.pop(VERSION_KEY, 1)
        state.pop(META_KEY, None)
        # Upcasters of typed events see JSON values (a UUID as its string); what they return
        # is rebuilt by the current annotations.
        while version < self.version:
            getattr(upcast, f"upcast_v{version}_v{version + 1}")(state)
            version += 1
        return {k: rebuild(self.hints[k], v) if k in self.hints else v for k, v in state.items()}


class TypedMapper(Mapper[UUID]):
    """The library's mapper, storing typed states where a class allows it, and reading both
    formats: the typed one by its mark, the tagged one exactly as the library does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._codecs: dict[type, Codec | None] = {}
        stored_values()  # every value registered before the first class is inspected

    def meta(self) -> Mapping[str, str] | None:
        """The current command's metadata, stored with each event (None: none)."""
        return None

    def codec(self, cls: type) -> Codec | None:
        try:
            return self._codecs[cls]
        except KeyError:
            pass
        try:
            found: Codec | None = Codec(cls)
        except (Untyped, TypeError, NameError):
            found = None
        self._codecs[cls] = found
        return found

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        cls = type(domain_event)
        codec = self.codec(cls)
        fields = vars(domain_event)
        if codec is None or fields.keys() != codec.keys:
            return super().to_stored_event(domain_event)
        state: dict[str, Any] = {MARK: FORMAT}
        state.update(fields)
        del state["originator_id"], state["originator_version"]
        if codec.version > 1:
            state[VERSION_KEY] = codec.version
        meta = self.meta()
        if meta is not None:
            state[META_KEY] = dict(meta)
        data = codec.encode(state)
        if data is None:
            return super().to_stored_event(domain_event)
        if self.compressor:
            data = self.compressor.compress(data)
        if self.cipher:
            data = self.cipher.encrypt(data)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(cls),
            state=data,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        data = stored_event.state
        if self.cipher:
            data = self.cipher.decrypt(data)
        if self.compressor:
            data = self.compressor.decompress(data)
        if not data.startswith(TYPED_PREFIX):
            return super().to_domain_event(stored_event)
        cls = resolve_topic(stored_event.topic)
        try:
            state = self._typed_codec(cls).decode(data, cls)
        except Exception as e:
            msg = (
                f"Failed to deserialise state of stored event with topic "
                f"'{stored_event.topic}', originator_id '{stored_event.originator_id}' "
                f"and originator_version {stored_event.originator_version}: {e}"
            )
            raise MapperDeserialisationError(msg) from e
        convert = find_id_convertor(cls, type(stored_event.originator_id))
        state["originator_id"] = convert(stored_event.originator_id)
        state["originator_version"] = stored_event.originator_version
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", state)
        return domain_event

    def decode_with_meta(self, topic: str | None, data: bytes) -> dict[str, Any] | None:
        """A typed state as stored, metadata included, not upcast (the audit's view: the
        tagged format's decode_with_meta gives the same); None for a tagged state. Without
        a topic the values are plain JSON."""
        if not data.startswith(TYPED_PREFIX):
            return None
        try:
            codec = self.codec(resolve_topic(topic)) if topic else None
        except TopicError:  # a class since renamed: its fields are still worth showing
            codec = None
        state = None
        if codec is not None:
            try:
                state = codec.decoder.decode(data)
            except msgspec.ValidationError:
                state = None
        if state is None:
            state = _JSON.decode(data)
        del state[MARK]
        return state

    def _typed_codec(self, cls: type) -> Codec:
        codec = self.codec(cls)
        if codec is None:
            raise Untyped(f"{cls!r} can no longer be read typed")
        return codec
