#!/usr/bin/env python3
"""Replays what the public Loymax PHP SDK (15web/loymax-php) sends for its main flows against a
running `kopilka demo`, and checks every answer against what the SDK's classes parse: the
envelope its ApiClient reads, field names, types, enums, nullability.

    python3 scripts/loymax-sdk-replay.py http://127.0.0.1:8080 ADMIN_TOKEN

The admin token reads the SMS and e-mail codes from `/v1/messages` (the demo delivers to the
log) and writes a notification. Each request is built as the SDK builds it: the same method,
path (`/publicapi/v1.2/…`, `/authorizationService/token`), query encoding (PHP's
`http_build_query`), body (JSON, `{}` when empty; a form for the token endpoint) and headers.

Exit status 0 when every check passes.
"""

import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

API = "/publicapi/v1.2"
DEMO_PHONE = "79161234567"
DEMO_PASSWORD = "111111"
FREE_CARD = "9116580844911085"
CLIENT_IP = "203.0.113.7"

# ---- what the SDK parses -------------------------------------------------------------------
# A spec is a type name, a list `[spec]`, a dict of fields (a field whose name ends in `?` may
# be absent: the SDK's constructor gives it a default), ("?", spec) for a nullable value or
# ("enum", [values]).

STR, INT, FLOAT, BOOL, UUID, DATE, ANY = "str", "int", "float", "bool", "uuid", "date", "any"


def opt(spec):
    return ("?", spec)


def enum(*values):
    return ("enum", list(values))


RESULT = {
    "state": enum("Success", "Error", "ValidationError", "Fail"),
    "message": opt(STR),
    "messageCode": opt(STR),
    "exception?": opt(STR),
    "validationErrors": opt([{"field": STR, "errorMessages": [STR]}]),
}
ACCESS_TOKEN = {"access_token": STR, "token_type": STR, "expires_in": INT, "refresh_token": STR}
NAME_CASES = {"nominative": STR, "genitive": STR, "plural": STR, "abbreviation": STR}
USER_CURRENCY = {"id": INT, "name": STR, "code": STR}
CARD_CURRENCY = {
    "id": INT,
    "name": STR,
    "code": STR,
    "uid": UUID,
    "externalId": UUID,
    "imageId": opt(UUID),
    "description": opt(STR),
    "isDeleted": BOOL,
    "nameCases": NAME_CASES,
}
CARD_BALANCE = {"amount": FLOAT, "currency": STR, "currencyInfo": CARD_CURRENCY}
BALANCE_INFO = {"amount": FLOAT, "currency": STR}
USER = {
    "id": INT,
    "personUid": STR,
    "lastName": opt(STR),
    "firstName": opt(STR),
    "patronymicName": opt(STR),
    "birthDay": opt(STR),
    "state": enum("Normal", "Registered", "Anonymous", "Deleted", "Deregistered"),
    "phoneNumber?": opt(STR),
    "email?": opt(STR),
    "balanceShortInfo?": opt(
        {
            "balance": BALANCE_INFO,
            "notActivated": BALANCE_INFO,
            "accumulated": BALANCE_INFO,
            "paid": BALANCE_INFO,
        }
    ),
    "attributes?": opt(ANY),
}
BALANCE = {
    "currency": USER_CURRENCY,
    "balance": FLOAT,
    "notActivated": FLOAT,
    "accumulated": FLOAT,
    "paid": FLOAT,
}
LIFE_TIME_BY_TIME = {"amount": FLOAT, "date": DATE}
DETAILED_BALANCE = {
    "currency": USER_CURRENCY,
    "amount": FLOAT,
    "notActivatedAmount": FLOAT,
    "accountIsBlocked": BOOL,
    "lifeTimesByTime": [LIFE_TIME_BY_TIME],
    "lifeTimesByPeriod": [
        {
            "activationAmount": FLOAT,
            "expirationAmount": FLOAT,
            "period": enum("FromWeekToMonth", "FromMonthToYear", "FromYear"),
        }
    ],
}
CARD_STATE = enum(
    "Emitted", "Packed", "Activated", "Replaced", "Creating", "Created", "Prepared", "Issued",
    "Expired",
)
CARD_CATEGORY = {
    "id": INT,
    "title": STR,
    "logicalName": STR,
    "description": opt(STR),
    "cardCount": INT,
    "images": [{"fileId": UUID, "description": opt(STR)}],
}
EMITTED_CARD = {
    "id": INT,
    "state": CARD_STATE,
    "number": STR,
    "barCode": STR,
    "block": BOOL,
    "expiryDate": opt(DATE),
    "cardCategory": CARD_CATEGORY,
}
CARD = dict(
    EMITTED_CARD,
    qrContent=STR,
    accumulated=CARD_BALANCE,
    paid=CARD_BALANCE,
    accumulatedInfo=[CARD_BALANCE],
    paidInfo=[CARD_BALANCE],
    cardActionAccessInfo={"canBlock": BOOL, "canReplace": BOOL},
    cardOwnerInfo={
        "id": INT,
        "personUid": UUID,
        "firstName": opt(STR),
        "lastName": opt(STR),
        "patronymicName": opt(STR),
        "phoneNumber": opt(STR),
        "email": opt(STR),
    },
)
EMIT_VIRTUAL = {"currentCountOfVirtualCards": INT, "isVirtualCardEmissionAllowed": BOOL}
QR_CODE = {"codeGeneratedDate": DATE, "code": STR, "lifeTime": INT}
REGISTRATION_ACTIONS = {
    "actions": [
        {"userActionType": STR, "actionState": enum("Required", "Custom"), "isDone": BOOL}
    ]
}
BEGIN_REGISTRATION = {
    "state": STR,
    "errorMessage": opt(STR),
    "authToken": opt(STR),
    "authResult?": opt(ACCESS_TOKEN),
    "personId?": opt(INT),
}
TRY_FINISH = {
    "token_type": STR,
    "access_token": opt(STR),
    "refresh_token": opt(STR),
    "expires_in": opt(INT),
    "registrationCompleted": BOOL,
    "uncompletedActions": opt(
        [{"userActionType": STR, "actionState": STR, "isDone": BOOL}]
    ),
}
PHONE_STATE = {
    "currentPhoneNumber": STR,
    "newPhoneNumber": opt({"phoneNumber": STR}),
    "confirmCodeLength": INT,
}
CODE_LENGTH = {"codeLength": INT}
EMAIL = {
    "currentEmail": opt(STR),
    "newEmail": {"email": opt(STR)},
    "confirmCodeLength": INT,
    "currentNotifierStatus": enum("Verified", "Unverified"),
    "notifierMask": opt(STR),
}
LOGINS = {
    "identifiers": [{"identifierType": STR, "value": STR}],
    "socialIdentifiers": [{"provider": STR, "userId": STR, "creationDate": DATE}],
}
STATUS_ITEM = {
    "name": STR,
    "description": opt(STR),
    "threshold": opt(FLOAT),
    "preferences": opt(STR),
    "preferencesAdditional": opt(STR),
}
STATUS_SYSTEM = {
    "name": STR,
    "logicalName": STR,
    "description": STR,
    "statuses": [STATUS_ITEM],
    "currentStatus": opt(STATUS_ITEM),
    "currentValue": FLOAT,
    "nextStatusValue": FLOAT,
}
CHANNEL = {"readOnly": BOOL, "selected": BOOL}
SUBSCRIPTION = {
    "typeId": INT,
    "typeName": STR,
    "externalId": enum(
        "DiscountOperation", "PaymentOperation", "DepositOperation", "CommunicationOffer",
        "System", "Advertisement", "RefundOperation",
    ),
    "smsNotification": CHANNEL,
    "emailNotification": CHANNEL,
    "pushNotification": CHANNEL,
    "viberNotification": CHANNEL,
    "socialNetworksNotification": CHANNEL,
    "chatBotNotification": CHANNEL,
}
NOTIFICATION = {
    "id": INT,
    "title": STR,
    "body": STR,
    "summary": opt(STR),
    "creationDate": STR,
    "isReaded": BOOL,
}
MERCHANT = {
    "id": INT,
    "uid": STR,
    "title": STR,
    "brandId": STR,
    "description": opt(STR),
    "location": {
        "id": INT,
        "description": opt(STR),
        "latitude": FLOAT,
        "longitude": FLOAT,
        "city": {"id": INT, "name": STR, "prefix": opt(STR)},
        "street": opt(STR),
        "house": opt(STR),
        "building": opt(STR),
        "office": opt(STR),
    },
    "scheduleModel": opt(ANY),
    "isArchived": BOOL,
    "additionalInfo": opt([{"name": STR, "value": ANY}]),
}
OFFER = {
    "id": INT,
    "title": STR,
    "description": STR,
    "merchantsCount": INT,
    "brands": [{"id": UUID, "name": STR, "description": STR}],
    "begin": STR,
    "end": opt(STR),
    "images": [{"fileId": STR}],
}
COUPON = {
    "id": INT,
    "code": STR,
    "qrContent": STR,
    "createDate": DATE,
    "updateDate": DATE,
    "activationDate": DATE,
    "expiryDate": opt(DATE),
    "couponState": enum(
        "Created", "Issued", "Used", "Rejected", "QueuedToUse", "QueuedToIssue", "Expired"
    ),
    "emissionTitle": STR,
    "emissionId": INT,
    "emissionUid": UUID,
    "shortDescription": opt(STR),
    "description": opt(STR),
    "imageFile": opt({"fileName": STR, "fileSize": INT, "content": STR, "mimeType": STR}),
}
HISTORY_AMOUNT = {"amount": FLOAT, "currencyInfo": USER_CURRENCY}
OPERATION = {
    "id": UUID,
    "dateTime": STR,
    "type": enum("PurchaseData", "RewardData", "WithdrawData"),
    "description": STR,
    "data": {
        "amount": HISTORY_AMOUNT,
        "withdraws?": [{"amount": HISTORY_AMOUNT}],
        "rewards?": [{"amount": HISTORY_AMOUNT}],
        "chequeItems?": [
            {
                "positionId": INT,
                "description": STR,
                "amount": FLOAT,
                "count": FLOAT,
                "unit?": opt(STR),
            }
        ],
        "isRefund?": BOOL,
    },
    "identity": opt(STR),
    "location?": opt({"id": INT, "description": opt(STR)}),
    "brand?": opt({"uid": UUID, "name": STR}),
}
HISTORY = {"allCount": INT, "rows": [OPERATION]}
AGGREGATE = {
    "purchaseAmount": [{"amount": HISTORY_AMOUNT}],
    "withdraws": [{"amount": HISTORY_AMOUNT}],
    "rewards": [{"amount": HISTORY_AMOUNT}],
}

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


def conform(value, spec, path="data"):
    """The ways `value` differs from what the SDK parses with `spec`."""
    if isinstance(spec, tuple) and spec[0] == "?":
        return [] if value is None else conform(value, spec[1], path)
    if isinstance(spec, tuple) and spec[0] == "enum":
        ok = isinstance(value, str) and value in spec[1]
        return [] if ok else [f"{path}: {value!r} is not one of {spec[1]}"]
    if isinstance(spec, list):
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {value!r:.80}"]
        errors = []
        for i, item in enumerate(value):
            errors += conform(item, spec[0], f"{path}[{i}]")
        return errors
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {value!r:.80}"]
        errors = []
        for name, field in spec.items():
            optional = name.endswith("?")
            name = name.rstrip("?")
            if name not in value:
                if not optional:
                    errors.append(f"{path}.{name}: missing")
                continue
            errors += conform(value[name], field, f"{path}.{name}")
        return errors
    ok = {
        STR: lambda v: isinstance(v, str),
        INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
        FLOAT: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        BOOL: lambda v: isinstance(v, bool),
        UUID: lambda v: isinstance(v, str) and UUID_RE.match(v) is not None,
        DATE: lambda v: isinstance(v, str) and DATE_RE.match(v) is not None,
        ANY: lambda v: True,
    }[spec](value)
    return [] if ok else [f"{path}: {value!r:.80} is not a {spec}"]


# ---- HTTP as the SDK sends it ----------------------------------------------------------------


def php_query(params):
    """PHP's http_build_query: lists as `name[0]=…`, nulls left out, booleans as 1/0."""
    pairs = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, list):
            for i, item in enumerate(value):
                pairs.append((f"{key}[{i}]", item))
        else:
            pairs.append((key, value))
    return urllib.parse.urlencode(pairs)


class Server:
    def __init__(self, base, admin_token):
        self.base = base.rstrip("/")
        self.admin_token = admin_token

    def raw(self, method, path, body=None, headers=None, form=None):
        """(HTTP status, parsed JSON body or None)."""
        headers = dict(headers or {})
        data = None
        if form is not None:
            headers["content-type"] = "application/x-www-form-urlencoded"
            data = urllib.parse.urlencode(form).encode()
        elif method != "GET":
            # CreateRequest: JSON content type, `{}` for an empty body.
            headers.setdefault("content-type", "application/json")
            data = ("{}" if body in (None, [], {}) else json.dumps(body)).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text.decode("utf-8", "replace")

    def admin(self, method, path, body=None):
        headers = {"authorization": f"Bearer {self.admin_token}"}
        return self.raw(method, path, body, headers)

    def code(self, recipient):
        """The latest code sent to a phone or an address."""
        query = urllib.parse.urlencode({"recipient": recipient, "limit": 1})
        status, page = self.admin("GET", f"/v1/messages?{query}")
        items = (page or {}).get("items") or []
        if status != 200 or not items:
            raise Failure(f"no message to {recipient}: {status} {page}")
        digits = re.search(r"\d{6}", items[0]["body"])
        return digits.group(0)


class Failure(Exception):
    pass


class Sdk:
    """The SDK's ApiClient: a bearer token if it has one, the envelope checked as it checks it."""

    def __init__(self, server, token=None):
        self.server = server
        self.token = token

    def send(self, method, path, body=None, query=None, headers=None, expect="Success"):
        headers = dict(headers or {})
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        full = API + path + (f"?{php_query(query)}" if query else "")
        status, answer = self.server.raw(method, full, body, headers)
        where = f"{method} {full}"
        if not 200 <= status < 300:
            raise Failure(f"{where}: HTTP {status} {answer}")
        if not isinstance(answer, dict):
            raise Failure(f"{where}: not a JSON object: {answer!r:.200}")
        errors = conform(answer.get("result"), opt(RESULT), "result")
        if errors:
            raise Failure(f"{where}: {errors}")
        state = (answer.get("result") or {}).get("state", "Success")
        if state != expect:
            raise Failure(f"{where}: state {state}, expected {expect}: {answer}")
        return answer.get("data")

    def parse(self, method, path, spec, **kwargs):
        data = self.send(method, path, **kwargs)
        errors = conform(data, spec)
        if errors:
            raise Failure(f"{method} {path}: " + "; ".join(errors[:8]))
        return data


def token_request(server, form, headers=None):
    status, answer = server.raw("POST", "/authorizationService/token", form=form, headers=headers)
    if status != 200:
        raise Failure(f"token endpoint: HTTP {status} {answer}")
    errors = conform(answer, ACCESS_TOKEN, "token")
    if errors:
        raise Failure(f"token endpoint: {errors}")
    return answer


# ---- the flows -------------------------------------------------------------------------------


def sign_in(server, ctx):
    """AuthorizationService::issueAccessToken and ::refreshAccessToken."""
    form = {"grant_type": "password", "username": DEMO_PHONE, "password": DEMO_PASSWORD}
    tokens = token_request(server, form, {"X-Forwarded-For": CLIENT_IP})
    refreshed = token_request(
        server,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        {"authorization": f"Bearer {tokens['access_token']}"},
    )
    ctx["token"] = refreshed["access_token"]
    status, answer = server.raw("POST", "/authorizationService/token", form=form | {"password": "wrong-one"})
    if status != 400 or answer.get("error") != "invalid_grant":
        raise Failure(f"a wrong password: HTTP {status} {answer}")


def profile(server, ctx):
    sdk = Sdk(server, ctx["token"])
    user = sdk.parse("GET", "/User", USER, query={"payload": ["BalanceShortInfo", "Attributes.LastName"]})
    if user["balanceShortInfo"] is None:
        raise Failure("User: payload BalanceShortInfo gave no balanceShortInfo")
    sdk.parse("GET", "/User", USER)
    sdk.parse("GET", "/User/Logins", LOGINS)
    sdk.parse("GET", "/User/Status", [STATUS_SYSTEM])
    sdk.parse("GET", "/User/RegistrationActions", REGISTRATION_ACTIONS)
    sdk.parse("GET", "/User/PhoneNumber", PHONE_STATE)
    sdk.parse("GET", "/User/Email", EMAIL)
    # An e-mail change started and cancelled.
    sdk.parse("POST", "/User/Email", CODE_LENGTH, body={"email": "replay-cancelled@example.com"})
    sdk.send("POST", "/User/Email/CancelChange")
    subscriptions = sdk.parse(
        "GET", "/User/Subscriptions", [SUBSCRIPTION], query={"subscriptionExternalIds[]": ["DiscountOperation"]}
    )
    if [s["externalId"] for s in subscriptions] != ["DiscountOperation"]:
        raise Failure(f"User/Subscriptions: the filter was not applied: {subscriptions}")
    sdk.send("POST", "/User/Subscriptions", [{"typeId": 1, "smsNotification": {"selected": True}}])
    sms = sdk.parse("GET", "/User/Subscriptions", [SUBSCRIPTION])[0]["smsNotification"]["selected"]
    if sms is not True:
        raise Failure("User/Subscriptions: the update did not stay")
    sdk.send("POST", "/User/Subscriptions/Reject")
    sdk.send("POST", "/User/Subscriptions/Confirm")
    sdk.send(
        "POST",
        "/Pushes",
        {"token": "fcm-token-1", "platformType": "Android", "pushServiceType": "Fcm"},
        headers={
            "X-DeviceId": "device-1",
            "X-PlatformType": "Android",
            "X-PlatformVersion": "14",
            "User-Agent": "kopilka-replay",
        },
    )
    # A phone change started and cancelled.
    sdk.parse("POST", "/User/PhoneNumber", CODE_LENGTH, body={"phoneNumber": "79169990011"})
    sdk.send("POST", "/User/PhoneNumber/CancelChange")
    # Unauthorized: HTTP 401 (the SDK's Unauthorized exception).
    status, _ = server.raw("GET", API + "/User")
    if status != 401:
        raise Failure(f"User without a token: HTTP {status}")


def balance(server, ctx):
    sdk = Sdk(server, ctx["token"])
    balances = sdk.parse("GET", "/User/Balance", [BALANCE])
    if not balances:
        raise Failure("User/Balance: empty")
    detailed = sdk.parse("GET", "/User/DetailedBalance", {"items": [DETAILED_BALANCE]})
    currency = detailed["items"][0]["currency"]["id"]
    sdk.parse(
        "GET",
        f"/User/DetailedBalance/{currency}/Operations",
        [LIFE_TIME_BY_TIME],
        query={"orderByDateAscending": "false", "filter.from": 0, "filter.count": 10},
    )


def cards(server, ctx):
    sdk = Sdk(server, ctx["token"])
    listed = sdk.parse("GET", "/Cards", [CARD])
    if not listed:
        raise Failure("Cards: the demo customer has a card")
    sdk.parse("GET", "/Cards/EmitVirtual", EMIT_VIRTUAL)
    qr = sdk.parse("GET", f"/Cards/{listed[0]['id']}/QrCode", QR_CODE)
    if listed[0]["number"] not in qr["code"]:
        raise Failure(f"QrCode: {qr['code']} does not name the card")
    sdk.send("GET", "/Cards/999999999/QrCode", expect="Error")


def history(server, ctx):
    sdk = Sdk(server, ctx["token"])
    sdk.parse(
        "GET",
        "/History",
        HISTORY,
        query={
            "filter.fromDate": "2000-01-01T00:00:00+00:00",
            "filter.toDate": "2100-01-01T00:00:00+00:00",
            "filter.historyItemType": "All",
            "filter.from": 0,
            "filter.count": 20,
        },
    )
    sdk.parse(
        "GET",
        "/History/AggregateWithdrawRewardPurchase",
        AGGREGATE,
        query={"filter.fromDate": "2000-01-01T00:00:00+00:00", "filter.historyItemType": "All"},
    )


def coupons(server, ctx):
    sdk = Sdk(server, ctx["token"])
    sdk.parse("GET", "/Coupons", [COUPON], query={"from": 0, "count": 10, "couponListFilter.couponStates": ["Issued"]})
    sdk.send("GET", "/Coupons/number/NO-SUCH-COUPON", expect="Error")


def offers(server, ctx):
    sdk = Sdk(server, ctx["token"])
    sdk.parse("GET", "/Offer", [OFFER], query={"filter.type": "All", "filter.from": 0, "filter.count": 10})
    sdk.send("GET", "/Offer/1", expect="Error")
    sdk.send("GET", "/Offer/1/merchants", expect="Error")


def merchants(server, ctx):
    anonymous = Sdk(server)
    listed = anonymous.parse("GET", "/Merchants", [MERCHANT], query={"from": 0, "count": 10})
    if not listed:
        raise Failure("Merchants: the demo has merchants")
    by_id = anonymous.parse("GET", "/Merchants", [MERCHANT], query={"merchantsIds": [listed[0]["id"]], "from": 0, "count": 10})
    by_uid = anonymous.parse(
        "GET", "/Merchants/ByUids", [MERCHANT], query={"merchantsUids": [listed[0]["uid"]], "from": 0, "count": 10}
    )
    if [m["id"] for m in by_id] != [listed[0]["id"]] or [m["id"] for m in by_uid] != [listed[0]["id"]]:
        raise Failure(f"Merchants: the filters were not applied: {by_id} {by_uid}")


def notifications(server, ctx):
    sdk = Sdk(server, ctx["token"])
    user = sdk.parse("GET", "/User", USER)
    status, created = server.admin(
        "POST", "/v1/loymax/notifications", {"customer_id": user["id"], "title": "Привет", "body": "Новые бонусы"}
    )
    if status != 201:
        raise Failure(f"creating a notification: HTTP {status} {created}")
    listed = sdk.parse("GET", "/Notification", [NOTIFICATION], query={"from": 0, "count": 10})
    unread = sdk.parse("GET", "/Notification/Count", {"unReadCount": INT})["unReadCount"]
    if unread < 1 or not listed:
        raise Failure(f"Notification: {listed}, {unread} unread")
    read = sdk.parse("POST", f"/Notification/{created['id']}/Read", NOTIFICATION)
    if read["isReaded"] is not True:
        raise Failure("Notification/{id}/Read: not read")
    if not isinstance(sdk.send("POST", "/Notification/Read"), int):
        raise Failure("Notification/Read: data is the count read")


def registration(server, ctx):
    """Registration by phone as the SDK's methods take it, to a finished registration."""
    phone = "7916" + str(int(time.time() * 1000))[-7:]
    anonymous = Sdk(server)
    begun = anonymous.parse(
        "POST",
        "/Registration/BeginRegistration",
        BEGIN_REGISTRATION,
        body={"login": phone, "password": None},
        headers={"X-Forwarded-For": CLIENT_IP},
    )
    if begun["state"] != "Success" or not begun["authToken"]:
        raise Failure(f"BeginRegistration: {begun}")
    sdk = Sdk(server, begun["authToken"])
    sdk.parse("GET", "/User/RegistrationActions", REGISTRATION_ACTIONS)
    sdk.send("POST", "/User/AcceptTenderOffer")
    sdk.parse("GET", "/User/PhoneNumber", PHONE_STATE)
    sdk.send("POST", "/User/PhoneNumber/SendConfirmCode")
    tokens = sdk.parse(
        "POST", "/User/PhoneNumber/Confirm", ACCESS_TOKEN, body={"confirmCode": server.code(phone), "password": "123456"}
    )
    sdk.token = tokens["access_token"]
    tokens = sdk.parse("POST", "/User/Password/Set", ACCESS_TOKEN, body={"password": "123456"})
    sdk.token = tokens["access_token"]
    email = f"replay{phone}@example.com"
    sdk.parse("POST", "/User/Email", CODE_LENGTH, body={"email": email})
    sdk.parse("GET", "/User/Email", EMAIL)
    sdk.send("POST", "/User/Email/SendConfirmCode")
    sdk.send("POST", "/User/Email/Confirm", {"confirmCode": server.code(email), "password": "123456"})
    answers = [
        {"questionId": 2, "questionGroupId": 1, "value": "Иванов", "fixedAnswerIds": [], "tag": None},
        {"questionId": 7, "questionGroupId": 1, "value": "1990-05-01", "fixedAnswerIds": [], "tag": None},
        {"questionId": 5, "questionGroupId": 1, "value": None, "fixedAnswerIds": [1], "tag": None},
    ]
    data = sdk.send("POST", "/User/Answers", answers)
    if conform(data if data is not None else {}, {"errors?": [{"idQuestion": STR, "errors": [STR]}]}):
        raise Failure(f"User/Answers: {data}")
    sdk.parse("POST", "/Cards/Set", EMITTED_CARD, body={"cardNumber": FREE_CARD, "cvcCode": None})
    sdk.parse("PUT", "/Cards/EmitVirtual", EMITTED_CARD)
    finished = sdk.parse("POST", "/Registration/TryFinishRegistration", TRY_FINISH)
    if finished["registrationCompleted"] is not True or not finished["access_token"]:
        raise Failure(f"TryFinishRegistration: {finished}")
    sdk.token = finished["access_token"]
    user = sdk.parse("GET", "/User", USER, query={"payload": ["Attributes.LastName"]})
    if user["lastName"] != "Иванов" or user["state"] != "Normal":
        raise Failure(f"User after registration: {user}")
    ctx["new_phone"] = phone
    ctx["new_token"] = sdk.token


def passwords(server, ctx):
    """Password change and reset by a phone code, for the customer registered above."""
    sdk = Sdk(server, ctx["new_token"])
    sdk.parse("POST", "/User/Password/Change", ACCESS_TOKEN, body={"oldPassword": "123456", "newPassword": "654321"})
    phone = ctx["new_phone"]
    anonymous = Sdk(server)
    anonymous.parse("POST", "/ResetPassword/Start", CODE_LENGTH, body={"notifierIdentity": phone})
    tokens = anonymous.parse(
        "POST",
        "/ResetPassword/Confirm",
        ACCESS_TOKEN,
        body={"notifierIdentity": phone, "confirmCode": server.code(phone), "newPassword": "777777"},
    )
    Sdk(server, tokens["access_token"]).parse("GET", "/User/Balance", [BALANCE])
    token_request(server, {"grant_type": "password", "username": phone, "password": "777777"})


def errors(server, ctx):
    """What the SDK's ApiClient turns into InvalidRequest: a ValidationError with fields."""
    raw = urllib.request.Request(
        server.base + API + "/Registration/BeginRegistration",
        data=b'{ login: "79123487979", password: "" }',
        method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(raw, timeout=30) as response:
        answer = json.loads(response.read())
    result = answer["result"]
    if result["state"] != "ValidationError" or conform(result["validationErrors"], [{"field": STR, "errorMessages": [STR]}]):
        raise Failure(f"an almost-JSON body: {answer}")
    if "login" not in result["validationErrors"][0]["errorMessages"][0]:
        raise Failure(f"an almost-JSON body: the unquoted key is not named: {answer}")


FLOWS = [
    ("sign-in", sign_in),
    ("profile", profile),
    ("balance", balance),
    ("cards", cards),
    ("history", history),
    ("coupons", coupons),
    ("offers", offers),
    ("merchants", merchants),
    ("notifications", notifications),
    ("registration", registration),
    ("passwords", passwords),
    ("errors", errors),
]


def main(argv):
    args = argv[1:]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    server = Server(args[0], args[1])
    ctx = {}
    failed = []
    for name, flow in FLOWS:
        try:
            flow(server, ctx)
        except Failure as failure:
            print(f"FAIL {name}: {failure}")
            failed.append(name)
            continue
        print(f"ok   {name}")
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    print("every flow answered as the SDK parses")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
