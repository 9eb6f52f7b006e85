"""FIX 4.4 tag numbers and enumerated values used by rlexec, as plain ints and bytes.

Plain module constants rather than enums because the hot path compares raw wire values:
`msg.get(MSG_TYPE) == MsgType.EXECUTION_REPORT` must cost one dict lookup and one compare.
"""

from __future__ import annotations

from typing import Final

# -- standard header / trailer ----------------------------------------------------------------
BEGIN_STRING: Final = 8
BODY_LENGTH: Final = 9
CHECKSUM: Final = 10
MSG_SEQ_NUM: Final = 34
MSG_TYPE: Final = 35
POSS_DUP_FLAG: Final = 43
SENDER_COMP_ID: Final = 49
SENDING_TIME: Final = 52
TARGET_COMP_ID: Final = 56
POSS_RESEND: Final = 97
ORIG_SENDING_TIME: Final = 122

# -- session messages ------------------------------------------------------------------------
BEGIN_SEQ_NO: Final = 7
END_SEQ_NO: Final = 16
NEW_SEQ_NO: Final = 36
REF_SEQ_NUM: Final = 45
TEXT: Final = 58
ENCRYPT_METHOD: Final = 98
HEART_BT_INT: Final = 108
TEST_REQ_ID: Final = 112
GAP_FILL_FLAG: Final = 123
RESET_SEQ_NUM_FLAG: Final = 141
REF_TAG_ID: Final = 371
REF_MSG_TYPE: Final = 372
SESSION_REJECT_REASON: Final = 373
USERNAME: Final = 553
PASSWORD: Final = 554

# -- orders and executions -------------------------------------------------------------------
ACCOUNT: Final = 1
AVG_PX: Final = 6
CL_ORD_ID: Final = 11
CUM_QTY: Final = 14
EXEC_ID: Final = 17
HANDL_INST: Final = 21
LAST_PX: Final = 31
LAST_QTY: Final = 32
ORDER_ID: Final = 37
ORDER_QTY: Final = 38
ORD_STATUS: Final = 39
ORD_TYPE: Final = 40
ORIG_CL_ORD_ID: Final = 41
PRICE: Final = 44
SIDE: Final = 54
SYMBOL: Final = 55
TIME_IN_FORCE: Final = 59
TRANSACT_TIME: Final = 60
ORD_REJ_REASON: Final = 103
CXL_REJ_REASON: Final = 102
EXEC_TYPE: Final = 150
LEAVES_QTY: Final = 151
CXL_REJ_RESPONSE_TO: Final = 434
MASS_CANCEL_REQUEST_TYPE: Final = 530
MASS_CANCEL_RESPONSE: Final = 531
MASS_CANCEL_REJECT_REASON: Final = 532
TOTAL_AFFECTED_ORDERS: Final = 533
MASS_STATUS_REQ_ID: Final = 584

# -- market data -----------------------------------------------------------------------------
MD_REQ_ID: Final = 262
SUBSCRIPTION_REQUEST_TYPE: Final = 263
MARKET_DEPTH: Final = 264
MD_UPDATE_TYPE: Final = 265
NO_MD_ENTRY_TYPES: Final = 267
NO_MD_ENTRIES: Final = 268
MD_ENTRY_TYPE: Final = 269
MD_ENTRY_PX: Final = 270
MD_ENTRY_SIZE: Final = 271
MD_ENTRY_TIME: Final = 273
MD_UPDATE_ACTION: Final = 279
NO_RELATED_SYM: Final = 146
MD_REQ_REJ_REASON: Final = 281
RPT_SEQ: Final = 83


class MsgType:
    """MsgType (35) values as they appear on the wire."""

    HEARTBEAT: Final = b"0"
    TEST_REQUEST: Final = b"1"
    RESEND_REQUEST: Final = b"2"
    REJECT: Final = b"3"
    SEQUENCE_RESET: Final = b"4"
    LOGOUT: Final = b"5"
    LOGON: Final = b"A"
    EXECUTION_REPORT: Final = b"8"
    ORDER_CANCEL_REJECT: Final = b"9"
    NEW_ORDER_SINGLE: Final = b"D"
    ORDER_CANCEL_REQUEST: Final = b"F"
    ORDER_CANCEL_REPLACE_REQUEST: Final = b"G"
    ORDER_STATUS_REQUEST: Final = b"H"
    BUSINESS_MESSAGE_REJECT: Final = b"j"
    ORDER_MASS_CANCEL_REQUEST: Final = b"q"
    ORDER_MASS_CANCEL_REPORT: Final = b"r"
    MARKET_DATA_REQUEST: Final = b"V"
    MARKET_DATA_SNAPSHOT: Final = b"W"
    MARKET_DATA_INCREMENTAL: Final = b"X"
    MARKET_DATA_REQUEST_REJECT: Final = b"Y"


ADMIN_MSG_TYPES: Final = frozenset(
    {
        MsgType.HEARTBEAT,
        MsgType.TEST_REQUEST,
        MsgType.RESEND_REQUEST,
        MsgType.REJECT,
        MsgType.SEQUENCE_RESET,
        MsgType.LOGOUT,
        MsgType.LOGON,
    }
)
"""Session-level messages: never resent, gap-filled instead."""

FIX44_MSG_TYPES: Final = frozenset(
    {
        b"0",
        b"1",
        b"2",
        b"3",
        b"4",
        b"5",
        b"6",
        b"7",
        b"8",
        b"9",
        b"A",
        b"B",
        b"C",
        b"D",
        b"E",
        b"F",
        b"G",
        b"H",
        b"J",
        b"K",
        b"L",
        b"M",
        b"N",
        b"P",
        b"Q",
        b"R",
        b"S",
        b"T",
        b"V",
        b"W",
        b"X",
        b"Y",
        b"Z",
        b"a",
        b"b",
        b"c",
        b"d",
        b"e",
        b"f",
        b"g",
        b"h",
        b"i",
        b"j",
        b"k",
        b"l",
        b"m",
        b"n",
        b"o",
        b"p",
        b"q",
        b"r",
        b"s",
        b"t",
        b"u",
        b"v",
        b"w",
        b"x",
        b"y",
        b"z",
        b"AA",
        b"AB",
        b"AC",
        b"AD",
        b"AE",
        b"AF",
        b"AG",
        b"AH",
        b"AI",
        b"AJ",
        b"AK",
        b"AL",
        b"AM",
        b"AN",
        b"AO",
        b"AP",
        b"AQ",
        b"AR",
        b"AS",
        b"AT",
        b"AU",
        b"AV",
        b"AW",
        b"AX",
        b"AY",
        b"AZ",
        b"BA",
        b"BB",
        b"BC",
        b"BD",
        b"BE",
        b"BF",
        b"BG",
        b"BH",
    }
)
"""Every MsgType FIX 4.4 defines; anything else gets a session Reject (InvalidMsgType)."""


class SessionRejectReason:
    """SessionRejectReason (373)."""

    INVALID_TAG_NUMBER: Final = 0
    REQUIRED_TAG_MISSING: Final = 1
    TAG_NOT_DEFINED_FOR_MESSAGE: Final = 2
    UNDEFINED_TAG: Final = 3
    TAG_WITHOUT_VALUE: Final = 4
    VALUE_INCORRECT: Final = 5
    INCORRECT_DATA_FORMAT: Final = 6
    DECRYPTION_PROBLEM: Final = 7
    SIGNATURE_PROBLEM: Final = 8
    COMPID_PROBLEM: Final = 9
    SENDING_TIME_ACCURACY: Final = 10
    INVALID_MSG_TYPE: Final = 11
    XML_VALIDATION_ERROR: Final = 12
    TAG_APPEARS_MORE_THAN_ONCE: Final = 13
    TAG_OUT_OF_ORDER: Final = 14
    REPEATING_GROUP_OUT_OF_ORDER: Final = 15
    INCORRECT_NUM_IN_GROUP: Final = 16
    NON_DATA_VALUE_INCLUDES_DELIMITER: Final = 17
    OTHER: Final = 99


RAW_DATA_PAIRS: Final = (
    (90, 91),  # SecureDataLen / SecureData
    (93, 89),  # SignatureLength / Signature
    (95, 96),  # RawDataLength / RawData
    (212, 213),  # XmlDataLen / XmlData
    (348, 349),
    (350, 351),
    (352, 353),
    (354, 355),  # EncodedTextLen / EncodedText
    (356, 357),
    (358, 359),
    (360, 361),
    (362, 363),
    (364, 365),
    (445, 446),
    (618, 619),
    (621, 622),
)
"""FIX 4.4 data fields: the length tag announces how many bytes the next field's value has,
and that value may contain SOH, so they cannot be split on the delimiter."""
RAW_LENGTH_TAGS: Final = frozenset(length for length, _ in RAW_DATA_PAIRS)
