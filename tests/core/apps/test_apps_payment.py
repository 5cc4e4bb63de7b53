"""okru_proto.apps.parse_payment, check_price, PaymentRejected and the replies: the constructed
vectors of docs/protocol.md §13.5 (one with non-ASCII extra_attributes), the error codes, every
changed parameter refused and any order accepted (Hypothesis), OK's XML and the JSON variant."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okru_proto import ProtocolError, UsageError
from okru_proto.apps import (
    OK_PAYMENT_NETWORKS,
    PAYMENT_ERRORS,
    Payment,
    PaymentError,
    PaymentRejected,
    check_price,
    error_reply,
    parse_payment,
    payment_reply,
)
from okru_proto.errors import PaymentError as PaymentErrorFromErrors

SECRET = "EXAMPLESECRET0123456789A"
APP_KEY = "CBAEXAMPLEABABABA"
#: docs/protocol.md §13.5, vector 1.
QUERY = ("application_key=CBAEXAMPLEABABABA&call_id=1718000000000&method=callbacks.payment&uid=571234567890"
         "&transaction_id=1234567890123&transaction_time=2024-06-10%2012%3A34%3A56&product_code=gems_100"
         "&amount=10&sig=b53e29aa73c79f06893b9342c2699ad9")
SIGNED_TEXT = ("amount=10application_key=CBAEXAMPLEABABABAcall_id=1718000000000method=callbacks.payment"
               "product_code=gems_100transaction_id=1234567890123transaction_time=2024-06-10 12:34:56"
               "uid=571234567890")
#: docs/protocol.md §13.5, vector 2: non-ASCII extra_attributes, signed over the UTF-8 of the decoded value.
QUERY_UTF8 = ("application_key=CBAEXAMPLEABABABA&call_id=1718000000001&method=callbacks.payment&uid=571234567890"
              "&transaction_id=1234567890124&transaction_time=2024-06-10%2012%3A35%3A00&product_code=gems_100"
              "&amount=10&extra_attributes=%7B%22note%22%3A%22%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82%22%7D"
              "&sig=caee04e871279e77abac9abab66ce11e")
BASE = {"application_key": APP_KEY, "call_id": "1718000000000", "method": "callbacks.payment",
        "uid": "571234567890", "transaction_id": "1234567890123", "transaction_time": "2024-06-10 12:34:56",
        "product_code": "gems_100", "amount": "10"}


def sign(params: dict[str, str], secret: str = SECRET) -> dict[str, str]:
    # Names in UTF-16 code-unit order, as OK's Java servers sort them (docs/protocol.md §2.4).
    body = "".join(f"{k}={params[k]}" for k in sorted(params, key=lambda k: k.encode("utf-16-be")) if k != "sig")
    return {**params, "sig": hashlib.md5((body + secret).encode()).hexdigest()}


def test_vector_one() -> None:
    assert hashlib.md5((SIGNED_TEXT + SECRET).encode()).hexdigest() == "b53e29aa73c79f06893b9342c2699ad9"
    payment = parse_payment(QUERY, app_secret_key=SECRET, application_key=APP_KEY)
    assert payment == Payment(uid="571234567890", transaction_id="1234567890123",
                              transaction_time="2024-06-10 12:34:56", product_code="gems_100", product_option=None,
                              amount=10, currency=None, payment_system=None, extra_attributes=None,
                              trial_days=None, card_promo=None, application_key=APP_KEY, raw=payment.raw)
    assert dict(payment.raw) == sign(BASE)


def test_vector_two_non_ascii_extra_attributes() -> None:
    payment = parse_payment("/ok/callback?" + QUERY_UTF8, app_secret_key=SECRET)
    assert payment.extra_attributes == {"note": "привет"}
    assert payment.raw["extra_attributes"] == '{"note":"привет"}'
    # The same value signed over Latin-1 or over the percent-encoded text would not verify.
    latin = {**dict(payment.raw)}
    latin["sig"] = hashlib.md5(("".join(f"{k}={latin[k]}" for k in sorted(latin) if k != "sig") + SECRET)
                               .encode("utf-16")).hexdigest()
    with pytest.raises(PaymentError):
        parse_payment(latin, app_secret_key=SECRET)


def test_all_optional_fields() -> None:
    params = sign({**BASE, "product_option": "big", "currency": "RUB", "payment_system": "card",
                   "trial_days": "7", "card_promo": "true", "extra_attributes": "[1, 2]"})
    payment = parse_payment(params, app_secret_key=SECRET)
    assert (payment.product_option, payment.currency, payment.payment_system) == ("big", "RUB", "card")
    assert (payment.trial_days, payment.card_promo, payment.extra_attributes) == (7, True, [1, 2])
    assert parse_payment(sign({**BASE, "card_promo": "false"}), app_secret_key=SECRET).card_promo is False


def test_subscription_event_with_an_empty_transaction_id() -> None:
    payment = parse_payment(sign({**BASE, "transaction_id": "", "trial_days": "3", "amount": "0"}),
                            app_secret_key=SECRET)
    assert payment.transaction_id == "" and payment.amount == 0 and payment.trial_days == 3


def test_errors_are_payment_errors_with_codes() -> None:
    assert PaymentError is PaymentErrorFromErrors and issubclass(PaymentError, ProtocolError)
    assert set(PAYMENT_ERRORS) == {1, 2, 104, 1001, 9999}
    assert OK_PAYMENT_NETWORKS == ("217.20.145.192/28", "217.20.151.160/28", "217.20.153.48/28")


@pytest.mark.parametrize(("params", "code", "message"), [
    ({k: v for k, v in sign(BASE).items() if k != "sig"}, 104, "sig missing"),
    ({**sign(BASE), "sig": ""}, 104, "sig missing"),
    ({**sign(BASE), "sig": "0" * 32}, 104, "sig does not match"),
    (sign(BASE, "another-secret"), 104, "sig does not match"),
    (sign({**BASE, "amount": "ten"}), 1001, "amount is not a whole number"),
    (sign({**BASE, "amount": "-1"}), 1001, "amount is not a whole number"),
    (sign({**BASE, "amount": "١٠"}), 1001, "amount is not a whole number"),  # Arabic-Indic digits
    (sign({**BASE, "amount": "1" * 19}), 1001, "amount is not a whole number"),
    (sign({k: v for k, v in BASE.items() if k != "amount"}), 1001, "amount missing"),
    (sign({k: v for k, v in BASE.items() if k != "uid"}), 1001, "uid missing"),
    (sign({k: v for k, v in BASE.items() if k != "transaction_time"}), 1001, "transaction_time missing"),
    (sign({k: v for k, v in BASE.items() if k != "transaction_id"}), 1001, "transaction_id missing"),
    (sign({**BASE, "trial_days": "x"}), 1001, "trial_days is not a whole number"),
    (sign({**BASE, "extra_attributes": "{not json"}), 1001, "extra_attributes is not JSON"),
    (sign({**BASE, "extra_attributes": "[" * 100_000}), 1001, "extra_attributes is not JSON"),
    (sign({**BASE, "method": "callbacks.other"}), 1001, "method is not callbacks.payment"),
    (sign({**BASE, "application_key": "CBAOTHER"}), 1001, "application_key is another app's"),
])
def test_refusals_carry_oks_codes(params: dict[str, str], code: int, message: str) -> None:
    with pytest.raises(PaymentError, match=message) as caught:
        parse_payment(params, app_secret_key=SECRET, application_key=APP_KEY)
    assert caught.value.code == code
    assert caught.value.error_msg.startswith(PAYMENT_ERRORS[code][0] + " : ")
    assert SECRET not in str(caught.value)


def test_a_callback_without_application_key_is_accepted() -> None:
    # OK does not say it sends one (docs/protocol.md §13.3): the signature already binds the app.
    params = sign({k: v for k, v in BASE.items() if k != "application_key"})
    assert parse_payment(params, app_secret_key=SECRET, application_key=APP_KEY).application_key is None


def test_malformed_queries_are_1001() -> None:
    for query in (QUERY + "&amount=11", QUERY + "&x=%FF"):
        with pytest.raises(PaymentError) as caught:
            parse_payment(query, app_secret_key=SECRET)
        assert caught.value.code == 1001
    with pytest.raises(UsageError):
        parse_payment(QUERY, app_secret_key="")


def test_check_price() -> None:
    payment = parse_payment(QUERY, app_secret_key=SECRET)
    check_price(payment, {"gems_100": 10})
    for prices, message in (({"gems_100": 9}, "amount is not the product's price"), ({}, "unknown product_code")):
        with pytest.raises(PaymentError, match=message) as caught:
            check_price(payment, prices)
        assert caught.value.code == 1001
    without = parse_payment(sign({k: v for k, v in BASE.items() if k != "product_code"}), app_secret_key=SECRET)
    with pytest.raises(PaymentError, match="product_code missing"):
        check_price(without, {"gems_100": 10})


# -- properties ------------------------------------------------------------------------------------

names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8).filter(
    lambda n: n not in BASE and n != "sig")
values = st.text(st.characters(codec="utf-8"), max_size=12)


@given(extra=st.dictionaries(names, values, max_size=4), order=st.randoms(use_true_random=False))
def test_any_order_verifies_and_unknown_parameters_are_signed_too(extra: dict[str, str], order: Any) -> None:
    params = sign({**BASE, **extra})
    items = list(params.items())
    order.shuffle(items)
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in items)
    assert dict(parse_payment(query, app_secret_key=SECRET).raw) == params
    if extra:  # a parameter the signature did not cover is refused
        with pytest.raises(PaymentError) as caught:
            parse_payment(sign(BASE) | extra, app_secret_key=SECRET)
        assert caught.value.code == 104


@given(name=st.sampled_from(sorted(BASE)), value=values, drop=st.booleans())
def test_any_parameter_changed_after_signing_is_refused_with_104(name: str, value: str, drop: bool) -> None:
    params = sign(BASE)
    if drop:
        del params[name]
    elif value == params[name]:
        return
    else:
        params[name] = value
    with pytest.raises(PaymentError) as caught:
        parse_payment(params, app_secret_key=SECRET)
    assert caught.value.code == 104


# -- PaymentRejected and the replies ---------------------------------------------------------------

def test_payment_rejected() -> None:
    assert issubclass(PaymentRejected, Exception)
    default = PaymentRejected()
    assert (default.code, default.error_msg) == (1001, "CALLBACK_INVALID_PAYMENT : Payment is invalid and can not be processed")
    later = PaymentRejected(2, "the shop is closed\r\nfor\x00a minute")
    assert later.error_msg == "SERVICE : the shop is closed  for a minute"
    assert len(PaymentRejected(1001, "x" * 10_000).error_msg) == 500
    for code in (0, 3, 200, "1001", 1001.0, True):
        with pytest.raises(UsageError, match="one of OK's"):
            PaymentRejected(code)  # type: ignore[arg-type]


XML_SUCCESS = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
               b'<callbacks_payment_response xmlns="http://api.forticom.com/1.0/">true</callbacks_payment_response>')


def test_success_replies() -> None:
    xml = payment_reply()
    assert (xml.status, xml.code, xml.ok, xml.body) == (200, None, True, XML_SUCCESS)
    assert xml.headers == (("content-type", "application/xml"),)
    root = ElementTree.fromstring(xml.body)
    assert root.tag == "{http://api.forticom.com/1.0/}callbacks_payment_response" and root.text == "true"
    js = payment_reply(format="json")
    assert (js.body, js.headers) == (b"true", (("content-type", "application/json"),))


def test_error_replies_carry_the_invocation_error_header() -> None:
    reply = payment_reply(PaymentRejected(1001, "Unknown <item> & more"))
    assert reply.status == 200 and not reply.ok and reply.code == 1001
    assert dict(reply.headers) == {"content-type": "application/xml", "invocation-error": "1001"}
    root = ElementTree.fromstring(reply.body)
    assert root.tag == "{http://api.forticom.com/1.0/}error_response"
    assert root.findtext("error_code") == "1001"
    assert root.findtext("error_msg") == "CALLBACK_INVALID_PAYMENT : Unknown <item> & more"
    js = payment_reply(PaymentError(104, "sig missing"), format="json")
    assert dict(js.headers) == {"content-type": "application/json", "invocation-error": "104"}
    assert json.loads(js.body) == {"error_code": 104, "error_msg": "PARAM_SIGNATURE : sig missing", "error_data": None}
    assert error_reply(9999).error_msg == "SYSTEM : Critical system error"
    with pytest.raises(UsageError):
        payment_reply(format="html")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        payment_reply(ValueError("x"))  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        error_reply(500)


def test_the_payment_signature_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    from okru_proto.apps import _signed

    seen: list[str] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        seen.append(b if isinstance(b, str) else b.decode())
        return real(a, b)

    monkeypatch.setattr(_signed.hmac, "compare_digest", spy)
    parse_payment(QUERY, app_secret_key=SECRET, application_key=APP_KEY)
    assert "b53e29aa73c79f06893b9342c2699ad9" in seen and APP_KEY in seen
