"""OK.ru's error codes: everything okru knows about a numeric ``error_code`` lives here.

:data:`ERROR_CODES` maps each code known from docs/protocol.md §5 to its symbol, its meaning and
what to do about it; :class:`~okru_proto.APIError` reads its ``symbol`` and ``action`` from it.
A data table, no behaviour (the classes that codes map to are in ``_errors``).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ERROR_CODES", "ErrorCode"]


class ErrorCode(NamedTuple):
    symbol: str
    meaning: str
    action: str


_RETRY = "retry later with backoff (okru's RetryPolicy does this)"
_FIX = "fix the request"
_RELOGIN = "authorize again (a new token is needed)"

#: Every OK.ru error code known from docs/protocol.md §5: symbol, meaning, what to do.
ERROR_CODES: dict[int, ErrorCode] = {
    1: ErrorCode("UNKNOWN", "Unknown error", _RETRY),
    2: ErrorCode("SERVICE", "Service temporarily unavailable", _RETRY),
    3: ErrorCode("METHOD", "Method does not exist", "check the method name"),
    4: ErrorCode("REQUEST", "Failed to process request", _FIX),
    7: ErrorCode("ACTION_BLOCKED", "Action temporarily blocked for the current user", "wait; the user is blocked for now"),
    8: ErrorCode("FLOOD_BLOCKED", "Call blocked due to flood protection", _RETRY),
    9: ErrorCode("IP_BLOCKED", "Blocked by IP due to suspicious activity", "contact OK.ru support"),
    10: ErrorCode("PERMISSION_DENIED", "The user did not grant the permission needed", "request the permission named in error_data"),
    11: ErrorCode("LIMIT_REACHED", "Method invocation limit reached", _RETRY),
    12: ErrorCode("CANCELLED", "Operation cancelled by user", "nothing to retry"),
    21: ErrorCode("NOT_MULTIPART", "Not a multipart request when uploading a photo", _FIX),
    22: ErrorCode("NOT_ACTIVATED", "User must activate the profile", "ask the user to activate the profile"),
    23: ErrorCode("NOT_YET_INVOLVED", "User not involved in the application", "ask the user to open the app"),
    24: ErrorCode("NOT_OWNER", "User does not own the object", _FIX),
    25: ErrorCode("NOT_ACTIVE", "Notification error: user not active in the app", "skip this user"),
    26: ErrorCode("TOTAL_LIMIT_REACHED", "Notification limit reached", "wait for the daily reset (04:00)"),
    30: ErrorCode("NETWORK", "Request body too large or bad headers", _FIX),
    31: ErrorCode("NETWORK_TIMEOUT", "Client sent the body too slowly", _RETRY),
    50: ErrorCode("NOT_ADMIN", "No admin rights for this method", "use an admin account"),
    100: ErrorCode("PARAM", "Missing or invalid parameter", _FIX),
    101: ErrorCode("PARAM_API_KEY", "application_key missing or invalid", "check app_key (the public key)"),
    102: ErrorCode("PARAM_SESSION_EXPIRED", "Session expired", "refresh the token (okru does this when it has a refresh token)"),
    103: ErrorCode("PARAM_SESSION_KEY", "Invalid session key", _RELOGIN),
    104: ErrorCode("PARAM_SIGNATURE", "Invalid signature", "check the secret for the circuit; `okru sign` shows the signed string"),
    105: ErrorCode("PARAM_RESIGNATURE", "Invalid re-signature", _FIX),
    106: ErrorCode("PARAM_ENTITY_ID", "Invalid entity ID", _FIX),
    110: ErrorCode("PARAM_USER_ID", "Invalid user ID", _FIX),
    120: ErrorCode("PARAM_ALBUM_ID", "Invalid album ID", _FIX),
    121: ErrorCode("PARAM_PHOTO_ID", "Invalid photo ID", _FIX),
    130: ErrorCode("PARAM_WIDGET", "Invalid widget ID", _FIX),
    140: ErrorCode("PARAM_MESSAGE_ID", "Invalid message ID", _FIX),
    141: ErrorCode("PARAM_COMMENT_ID", "Invalid comment ID", _FIX),
    150: ErrorCode("PARAM_HAPPENING_ID", "Invalid happening ID", _FIX),
    151: ErrorCode("PARAM_HAPPENING_PHOTO_ID", "Invalid happening photo ID", _FIX),
    160: ErrorCode("PARAM_GROUP_ID", "Invalid group ID", _FIX),
    200: ErrorCode("PARAM_PERMISSION", "App cannot perform the operation", "authorize the user first"),
    210: ErrorCode("PARAM_APPLICATION_DISABLED", "Application disabled", "check the app's status on OK.ru"),
    211: ErrorCode("PARAM_DECISION", "Invalid decision ID", _FIX),
    212: ErrorCode("PARAM_BADGE_ID", "Invalid badge ID", _FIX),
    213: ErrorCode("PARAM_PRESENT_ID", "Invalid present ID", _FIX),
    214: ErrorCode("PARAM_RELATION_TYPE", "Invalid relation type", _FIX),
    220: ErrorCode("PARAM_FIELDSET", "Invalid field set", _FIX),
    300: ErrorCode("NOT_FOUND", "Requested information not found", "check the ids"),
    324: ErrorCode("EDIT_PHOTO_FILE", "Error processing the multipart request", _FIX),
    401: ErrorCode("AUTH_LOGIN", "Bad login, password or token, or user blocked", "check the credentials"),
    402: ErrorCode("AUTH_LOGIN_CAPTCHA", "Captcha required", "log in through a browser once"),
    403: ErrorCode("AUTH_LOGIN_WEB_HUMAN_CHECK", "Human check required", "log in through a browser once"),
    451: ErrorCode("NOT_SESSION_METHOD", "Session given for a method that must be called without one", "use AppSession (session-less, signed with the app secret)"),
    453: ErrorCode("SESSION_REQUIRED", "Session required", "call it with a user session"),
    454: ErrorCode("CENSOR_MATCH", "Text rejected by censor", "change the text"),
    455: ErrorCode("FRIEND_RESTRICTION", "Restricted by a friend (black list or private profile)", "nothing to retry"),
    456: ErrorCode("GROUP_RESTRICTION", "Group restriction", "nothing to retry"),
    457: ErrorCode("UNAUTHORIZED_RESTRICTION", "Unauthorized access", "nothing to retry"),
    458: ErrorCode("PRIVACY_RESTRICTION", "Privacy restriction", "nothing to retry"),
    500: ErrorCode("PHOTO_SIZE_LIMIT_EXCEEDED", "Image byte size over limit", "send a smaller file"),
    501: ErrorCode("PHOTO_SIZE_TOO_SMALL", "Image pixel size too small", "send a larger image"),
    502: ErrorCode("PHOTO_SIZE_TOO_BIG", "Image pixel size too big", "send a smaller image"),
    503: ErrorCode("PHOTO_INVALID_FORMAT", "Image format not recognized", "send JPEG/PNG/GIF"),
    504: ErrorCode("PHOTO_IMAGE_CORRUPTED", "Image corrupted", "send a valid image"),
    505: ErrorCode("PHOTO_NO_IMAGE", "No image in request", "attach the file"),
    508: ErrorCode("PHOTO_PIN_TOO_MUCH", "Too many photo pins", _FIX),
    511: ErrorCode("IDS_BLOCKED", "Antispam error", "nothing to retry"),
    512: ErrorCode("PHOTO_ALBUM_NOT_BELONGS_TO_USER", "Album is not the user's", _FIX),
    513: ErrorCode("PHOTO_ALBUM_NOT_BELONGS_TO_GROUP", "Album is not the group's", _FIX),
    514: ErrorCode("IDS_SESSION_VERIFICATION_REQUIRED", "User must pass verification", "ask the user to verify on OK.ru"),
    600: ErrorCode("MEDIA_TOPIC_BLOCK_LIMIT", "Too many media blocks", _FIX),
    601: ErrorCode("MEDIA_TOPIC_TEXT_LIMIT", "Text too long", _FIX),
    602: ErrorCode("MEDIA_TOPIC_POLL_QUESTION_TEXT_LIMIT", "Poll question too long", _FIX),
    603: ErrorCode("MEDIA_TOPIC_POLL_ANSWERS_LIMIT", "Too many poll answers", _FIX),
    604: ErrorCode("MEDIA_TOPIC_POLL_ANSWER_TEXT_LIMIT", "Poll answer too long", _FIX),
    605: ErrorCode("MEDIA_TOPIC_WITH_FRIENDS_LIMIT", "Too many pinned friends", _FIX),
    606: ErrorCode("MEDIA_TOPIC_WITH_FRIENDS_USER_LIMIT", "Pinned friends limit for this user", _FIX),
    607: ErrorCode("MEDIA_TOPIC_LINK_BAD_FORMAT", "Bad link format in the topic", _FIX),
    610: ErrorCode("GROUP_DUPLICATE_JOIN_REQUEST", "Join request already registered", "nothing to retry"),
    700: ErrorCode("COMMENT_NOT_FOUND", "Comment not found", _FIX),
    701: ErrorCode("INVALID_AUTHOR", "Invalid author", _FIX),
    702: ErrorCode("COMMENT_NOT_ACTIVE", "Comment removed", "nothing to retry"),
    704: ErrorCode("TIMEOUT_EXCEEDED", "Edit timeout exceeded", "nothing to retry"),
    705: ErrorCode("CHAT_NOT_FOUND", "Chat not found", _FIX),
    706: ErrorCode("MESSAGE_NOT_ACTIVE", "Message removed", "nothing to retry"),
    707: ErrorCode("STICKER_SERVICE_UNAVAILABLE_TO_USER", "Stickers unavailable to the user", "nothing to retry"),
    708: ErrorCode("STICKER_MESSAGE_INVALID", "Invalid sticker message", _FIX),
    709: ErrorCode("GIF_SERVICE_UNAVAILABLE_TO_USER", "GIFs unavailable to the user", "nothing to retry"),
    800: ErrorCode("CHAT_MAX_PARTICIPANT_COUNT_LIMIT", "Too many chat participants", _FIX),
    801: ErrorCode("CHAT_PARTICIPANTS_EMPTY_BLOCKED_USERS", "All participants blocked", _FIX),
    802: ErrorCode("CHAT_PARTICIPANTS_EMPTY_NON_EXISTENT_USERS", "No participant exists", _FIX),
    900: ErrorCode("NO_SUCH_APP", "No such application", "check the app id"),
    1001: ErrorCode("CALLBACK_INVALID_PAYMENT", "App server reports an invalid transaction", "check the payment callback"),
    1002: ErrorCode("PAYMENT_IS_REQUIRED_PAYMENT", "Payment required", "nothing to retry"),
    1003: ErrorCode("INVALID_PAYMENT", "Invalid payment transaction", _FIX),
    1004: ErrorCode("DUPLICATE_PAYMENT", "Payment too frequent", _RETRY),
    1005: ErrorCode("NOT_ENOUGH_MONEY", "Not enough money", "nothing to retry"),
    1101: ErrorCode("VCHAT_SERVICE_DISABLED", "Video chat disabled", "nothing to retry"),
    1102: ErrorCode("TARGET_USER_UNAVAILABLE", "Target unavailable for video chat", "nothing to retry"),
    1103: ErrorCode("FRIENDSHIP_REQUIRED", "Target must be a friend", "nothing to retry"),
    1200: ErrorCode("BATCH", "Batching error", _FIX),
    1300: ErrorCode("APP_NO_PLATFORM_ALLOWED", "No platforms allowed for the app", "check the app settings"),
    1301: ErrorCode("APP_DEVICE_NOT_ALLOWED", "Device not allowed", "check the app settings"),
    1302: ErrorCode("APP_DEVICE_NOT_SPECIFIED", "Device not specified", _FIX),
    1400: ErrorCode("APP_EMPTY_SEARCH_PARAMS", "Location search error", _FIX),
    1401: ErrorCode("APP_SEARCH_SCENARIO_DOES_NOT_EXIST", "Location search error", _FIX),
    2001: ErrorCode("GRAPH_PARAM_REQUEST", "Graph request parameter error", _FIX),
    5000: ErrorCode("INVALID_RESPONSE", "Invalid response (e.g. unknown format)", "send format=json"),
    9999: ErrorCode("SYSTEM", "Critical system error", "report to OK.ru support; retry later"),
}
