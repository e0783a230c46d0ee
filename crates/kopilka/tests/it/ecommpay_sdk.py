"""The official ECommPay SDK (PyPI ecommpay-sdk) as a merchant's client of kopilka.

usage: ecommpay_sdk.py url BASE_URL SECRET PROJECT_ID PAYMENT_ID AMOUNT COUNTRY
       ecommpay_sdk.py callback SECRET < body.json
"""
import sys

from payment_page_sdk.gate import Gate
from payment_page_sdk.payment import Payment


def url(base, secret, project_id, payment_id, amount, country):
    gate = Gate(secret, base + "/payment")
    payment = Payment(project_id, payment_id)
    payment.payment_amount = int(amount)
    payment.payment_currency = "EUR"
    payment.customer_id = "customer1"
    payment.force_payment_method = "cashtocode"
    payment.customer_first_name = "John"
    payment.customer_last_name = "Johnson"
    payment.customer_day_of_birth = "12-12-1990"
    payment.customer_country = country
    payment.payment_description = "SDK order"
    print(gate.get_purchase_payment_page_url(payment))


def callback(secret):
    gate = Gate(secret)
    handled = gate.handle_callback(sys.stdin.read())
    print(handled.get_payment_status())


if __name__ == "__main__":
    if sys.argv[1] == "url":
        url(*sys.argv[2:8])
    elif sys.argv[1] == "callback":
        callback(sys.argv[2])
    else:
        sys.exit("unknown command")
