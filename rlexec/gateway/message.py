"""A parsed FIX message: the ordered fields plus a dict for O(1) lookup by tag."""

from __future__ import annotations

from rlexec.gateway.codec import MAX_INT_DIGITS, parse_field_map, parse_fields
from rlexec.gateway.errors import FieldError
from rlexec.gateway.tags import MSG_SEQ_NUM, MSG_TYPE


class FixMessage:
    """One inbound message. Values stay bytes until asked for, because most are never read.

    `fields` maps a tag to its value (the last occurrence when a tag repeats inside a
    repeating group: walk `pairs` for groups). `raw` is the exact wire message. `pairs`, the
    fields in wire order, is parsed from `raw` when first asked for. `field_count` counts
    every field: it differs from `len(fields)` exactly when a tag repeats.
    """

    __slots__ = ("_pairs", "field_count", "fields", "raw")

    def __init__(self, pairs: list[tuple[int, bytes]], raw: bytes = b"") -> None:
        self._pairs: list[tuple[int, bytes]] | None = pairs
        self.fields = dict(pairs)
        self.field_count = len(pairs)
        self.raw = raw

    @classmethod
    def decode(cls, raw: bytes) -> FixMessage:
        """Parse a complete, framed message (raises GarbledError if a field cannot be read)."""
        msg = cls.__new__(cls)
        # The map alone: most messages, one-entry market data included, never need the
        # order (a dict keeps it when no tag repeats), and `pairs` re-parses on demand.
        msg.fields, msg.field_count = parse_field_map(raw)
        msg._pairs = None
        msg.raw = raw
        return msg

    @property
    def pairs(self) -> list[tuple[int, bytes]]:
        pairs = self._pairs
        if pairs is None:
            pairs = self._pairs = parse_fields(self.raw)
        return pairs

    @property
    def has_repeated_tags(self) -> bool:
        return len(self.fields) != self.field_count

    @property
    def msg_type(self) -> bytes:
        return self.fields.get(MSG_TYPE, b"")

    @property
    def seq_num(self) -> int:
        """MsgSeqNum (34); FieldError if absent or not a number."""
        return self.get_int(MSG_SEQ_NUM)

    def get(self, tag: int, default: bytes | None = None) -> bytes | None:
        return self.fields.get(tag, default)

    def __contains__(self, tag: int) -> bool:
        return tag in self.fields

    def __getitem__(self, tag: int) -> bytes:
        value = self.fields.get(tag)
        if value is None:
            raise FieldError(tag, "required field is missing", self.msg_type)
        return value

    def get_str(self, tag: int, default: str | None = None) -> str | None:
        value = self.fields.get(tag)
        return default if value is None else value.decode(errors="replace")

    def text(self, tag: int) -> str:
        """The value of a required field as text."""
        return self[tag].decode(errors="replace")

    def get_int(self, tag: int) -> int:
        value = self[tag]
        if len(value) > MAX_INT_DIGITS + 1:
            raise FieldError(tag, f"more than {MAX_INT_DIGITS} digits", self.msg_type)
        if not value.isdigit():
            if value[:1] == b"-" and value[1:].isdigit():
                return int(value)
            raise FieldError(tag, f"not an integer: {value[:32]!r}", self.msg_type)
        return int(value)

    def get_float(self, tag: int) -> float:
        value = self[tag]
        try:
            return float(value)
        except ValueError:
            raise FieldError(tag, f"not a number: {value[:32]!r}", self.msg_type) from None

    def repeated_tags(self) -> list[int]:
        """Tags that occur more than once, in order of their second occurrence."""
        if len(self.fields) == self.field_count:
            return []
        seen: set[int] = set()
        repeated: list[int] = []
        for tag, _ in self.pairs:
            if tag in seen and tag not in repeated:
                repeated.append(tag)
            seen.add(tag)
        return repeated

    def group(
        self, count_tag: int, first_tag: int, members: frozenset[int] | None = None
    ) -> list[dict[int, bytes]]:
        """The entries of a repeating group: each starts at `first_tag` after `count_tag`.

        The group ends at a tag outside `members` (when given), at a tag repeated within an
        entry, or at the CheckSum.

        Raises FieldError when the count field disagrees with the entries found, which is
        how a truncated or reordered group shows up.
        """
        entries: list[dict[int, bytes]] = []
        pairs = iter(self.pairs)
        expected = -1
        for tag, _ in pairs:
            if tag == count_tag:
                expected = self.get_int(count_tag)
                break
        if expected < 0:
            return entries
        current: dict[int, bytes] | None = None
        for tag, value in pairs:
            if tag == first_tag:
                current = {tag: value}
                entries.append(current)
            elif (
                current is None
                or tag == 10
                or tag in current
                or (members is not None and tag not in members)
            ):
                break
            else:
                current[tag] = value
        if len(entries) != expected:
            raise FieldError(
                count_tag, f"says {expected} entries but {len(entries)} follow", self.msg_type
            )
        return entries

    def __repr__(self) -> str:
        return "FixMessage(" + self.raw.replace(b"\x01", b"|").decode(errors="replace") + ")"
