"""Session-level validation: which inbound messages FIX says to answer with a Reject (35=3).

Pure functions of the message, so the rules can be read (and tested) in one place; the
session decides what to do with the answer.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from rlexec.gateway import tags as fix
from rlexec.gateway.clock import is_utc_timestamp
from rlexec.gateway.codec import parse_uint
from rlexec.gateway.message import FixMessage
from rlexec.gateway.tags import MsgType
from rlexec.gateway.tags import SessionRejectReason as R

HEADER_TAGS: Final = frozenset(
    {
        fix.BEGIN_STRING,
        fix.BODY_LENGTH,
        fix.CHECKSUM,
        fix.MSG_TYPE,
        fix.SENDER_COMP_ID,
        fix.TARGET_COMP_ID,
        fix.MSG_SEQ_NUM,
        fix.SENDING_TIME,
        fix.POSS_DUP_FLAG,
        fix.POSS_RESEND,
        fix.ORIG_SENDING_TIME,
    }
)
"""Standard-header (and trailer) tags the session writes itself and never lets repeat."""

READ_ONCE_TAGS: Final = HEADER_TAGS | frozenset(
    {
        # what the order entry reads of an ExecutionReport or OrderCancelReject
        fix.CL_ORD_ID, fix.ORIG_CL_ORD_ID, fix.ORDER_ID, fix.EXEC_ID, fix.EXEC_TYPE,
        fix.ORD_STATUS, fix.CUM_QTY, fix.LEAVES_QTY, fix.LAST_PX, fix.LAST_QTY, fix.AVG_PX,
        fix.PRICE, fix.ORDER_QTY, fix.ORD_REJ_REASON, fix.CXL_REJ_REASON, fix.CXL_REJ_RESPONSE_TO,
        # what the session reads of its own messages
        fix.TEST_REQ_ID, fix.BEGIN_SEQ_NO, fix.END_SEQ_NO, fix.NEW_SEQ_NO, fix.GAP_FILL_FLAG,
        fix.REF_SEQ_NUM, fix.HEART_BT_INT, fix.RESET_SEQ_NUM_FLAG, fix.ENCRYPT_METHOD,
    }
)  # fmt: skip
"""Tags read as one value, so a repeat makes the message ambiguous (Reject 373=13). Any other
tag may repeat: without a data dictionary a repeat is taken as a repeating group rlexec does
not read (MiscFees, ContraBrokers, Parties…), which a counterparty may always send."""

REQUIRED_ADMIN_FIELDS: Final[dict[bytes, tuple[int, ...]]] = {
    MsgType.LOGON: (fix.HEART_BT_INT,),
    MsgType.TEST_REQUEST: (fix.TEST_REQ_ID,),
    MsgType.RESEND_REQUEST: (fix.BEGIN_SEQ_NO, fix.END_SEQ_NO),
    MsgType.SEQUENCE_RESET: (fix.NEW_SEQ_NO,),
    MsgType.REJECT: (fix.REF_SEQ_NUM,),
}
_INT_FIELDS: Final = frozenset({fix.BEGIN_SEQ_NO, fix.END_SEQ_NO, fix.NEW_SEQ_NO, fix.REF_SEQ_NUM})
_FLAG_NAMES: Final = {
    fix.POSS_DUP_FLAG: "PossDupFlag",
    fix.POSS_RESEND: "PossResend",
    fix.GAP_FILL_FLAG: "GapFillFlag",
    fix.RESET_SEQ_NUM_FLAG: "ResetSeqNumFlag",
}
_FLAG_OF_TYPE: Final = {
    MsgType.SEQUENCE_RESET: fix.GAP_FILL_FLAG,
    MsgType.LOGON: fix.RESET_SEQ_NUM_FLAG,
}
"""The Boolean body field the session acts on, by the admin MsgType that carries it."""


class Problem(NamedTuple):
    """Why a message is rejected: SessionRejectReason (373), RefTagID (371) and text (58)."""

    reason: int
    tag: int
    text: str


def session_problem(msg: FixMessage, msg_type: bytes, check_msg_type: bool) -> Problem | None:
    """The first session-level problem of a well-framed message, or None if it has none.

    The two expensive checks (an empty value, a repeated tag) run only when a cheap test
    says they can fail, so a normal message costs a substring search and a length compare.
    """
    fields = msg.fields
    if b"=\x01" in msg.raw:
        for tag, value in msg.pairs:
            if not value:
                return Problem(R.TAG_WITHOUT_VALUE, tag, "Tag specified without a value")
    if len(fields) != msg.field_count:  # a tag repeats
        for tag in msg.repeated_tags():
            if tag in READ_ONCE_TAGS:
                return Problem(R.TAG_APPEARS_MORE_THAN_ONCE, tag, "Tag appears more than once")
    if check_msg_type and msg_type not in fix.FIX44_MSG_TYPES:
        return Problem(R.INVALID_MSG_TYPE, fix.MSG_TYPE, "Invalid MsgType")
    sending_time = fields.get(fix.SENDING_TIME)
    if sending_time is None:
        return Problem(R.REQUIRED_TAG_MISSING, fix.SENDING_TIME, "Required tag missing")
    if not is_utc_timestamp(sending_time):
        return Problem(R.INCORRECT_DATA_FORMAT, fix.SENDING_TIME, "Incorrect data format for value")
    for tag in REQUIRED_ADMIN_FIELDS.get(msg_type, ()):
        required = fields.get(tag)
        if required is None:
            return Problem(R.REQUIRED_TAG_MISSING, tag, "Required tag missing")
        if tag in _INT_FIELDS and parse_uint(required) is None:
            return Problem(R.INCORRECT_DATA_FORMAT, tag, "Incorrect data format for value")
    return flag_problem(fields, msg_type)


def flag_problem(fields: dict[int, bytes], msg_type: bytes) -> Problem | None:
    """A session Boolean (PossDupFlag, PossResend; GapFillFlag on a SequenceReset,
    ResetSeqNumFlag on a Logon) that is neither Y nor N (Reject 373=5). Read as "not Y" it
    would change the message's meaning unseen: 123=X made a GapFill a Reset, which ignores
    MsgSeqNum."""
    get = fields.get
    for tag in (fix.POSS_DUP_FLAG, fix.POSS_RESEND, _FLAG_OF_TYPE.get(msg_type)):
        if tag is None:
            break
        value = get(tag)
        if value is not None and value != b"Y" and value != b"N":
            return Problem(
                R.VALUE_INCORRECT,
                tag,
                f"Value is incorrect (out of range) for this tag: {_FLAG_NAMES[tag]} ({tag}) "
                "must be Y or N",
            )
    return None


def repeated_header_tag(msg: FixMessage) -> int | None:
    """A standard-header tag that occurs more than once (FIX: Reject 373=13), or None."""
    if not msg.has_repeated_tags:
        return None
    for tag in msg.repeated_tags():
        if tag in HEADER_TAGS:
            return tag
    return None


def first_value(msg: FixMessage, tag: int) -> bytes | None:
    """The first occurrence of `tag` (`fields` holds the last one)."""
    for t, value in msg.pairs:
        if t == tag:
            return value
    return None
