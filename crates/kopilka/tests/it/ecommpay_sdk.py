"""The official ECommPay SDK (PyPI ecommpay-sdk) as a merchant's client of kopilka.

usage: ecommpay_sdk.py url BASE_URL SECRET PROJECT_ID PAYMENT_ID AMOUNT COUNTRY [NAME=TEXT|NAME:=JSON ...]
       ecommpay_sdk.py sign SECRET < request.json     (a Gate request's signature)
       ecommpay_sdk.py callback SECRET < body.json    (prints the payment's status)
"""
import json
import sys
from datetime import datetime

from payment_page_sdk.gate import Gate
from payment_page_sdk.payment import Payment
from payment_page_sdk.signature_handler import SignatureHandler


def url(base, secret, project_id, payment_id, amount, country, *extra):
    gate = Gate(secret, base + "/payment")
    payment = Payment(project_id, payment_id)
    payment.payment_amount = int(amount)
    payment.payment_currency = "EUR"
    payment.customer_id = "customer1"
    payment.force_payment_method = "cashtocode"
    payment.customer_first_name = "John"
    payment.customer_last_name = "Johnson"
    payment.customer_day_of_birth = "12-12-1990"
    if country:
        payment.customer_country = country
    payment.payment_description = "SDK order"
    # `NAME:=true` sets a typed value (a boolean, as a shop's code would), `NAME=true` a string;
    # `best_before` is a datetime, as the SDK wants it.
    for pair in extra:
        name, value = pair.split("=", 1)
        if name.endswith(":"):
            name, value = name[:-1], json.loads(value)
        elif name == "best_before":
            value = datetime.fromisoformat(value)
        setattr(payment, name, value)
    print(gate.get_purchase_payment_page_url(payment))


def sign(secret):
    print(SignatureHandler(secret).sign(json.loads(sys.stdin.read())))


def callback(secret):
    gate = Gate(secret)
    handled = gate.handle_callback(sys.stdin.read())
    print(handled.get_payment_status())


if __name__ == "__main__":
    if sys.argv[1] == "url":
        url(*sys.argv[2:])
    elif sys.argv[1] == "sign":
        sign(sys.argv[2])
    elif sys.argv[1] == "callback":
        callback(sys.argv[2])
    else:
        sys.exit("unknown command")
