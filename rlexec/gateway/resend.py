"""What a session sends when it answers a ResendRequest: pure builders of the wire messages."""

from __future__ import annotations

from rlexec.gateway import tags as fix
from rlexec.gateway.codec import encode_fields, frame
from rlexec.gateway.message import FixMessage
from rlexec.gateway.validation import HEADER_TAGS


def gap_fill(begin: bytes, header_mid: bytes, seq: int, new_seq: int, now: bytes) -> bytes:
    """SequenceReset-GapFill sent as `seq` (PossDup), telling the counterparty that the next
    message it should expect is `new_seq`. `header_mid` is `<SOH>49=..<SOH>56=..<SOH>34=`."""
    return frame(
        begin,
        b"35=4"
        + header_mid
        + b"%d\x0143=Y\x0152=%s\x01122=%s\x01123=Y\x0136=%d\x01" % (seq, now, now, new_seq),
    )


def possdup_copy(
    begin: bytes, header_mid: bytes, original: FixMessage, seq: int, now: bytes
) -> bytes:
    """A stored message sent again: same MsgSeqNum and body, PossDupFlag=Y, a new SendingTime
    and the original one as OrigSendingTime; a PossResend=Y the original carried stays (the
    peer may never have seen the original, and must still be told it may be a duplicate)."""
    orig_time = original.fields.get(fix.SENDING_TIME) or now
    rest = [(t, v) for t, v in original.pairs if t not in HEADER_TAGS]
    poss_resend = b"97=Y\x01" if original.fields.get(fix.POSS_RESEND) == b"Y" else b""
    return frame(
        begin,
        b"35="
        + original.msg_type
        + header_mid
        + b"%d\x0143=Y\x01%s52=%s\x01122=%s\x01" % (seq, poss_resend, now, orig_time)
        + encode_fields(rest),
    )
