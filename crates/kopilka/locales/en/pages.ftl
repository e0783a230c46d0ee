# The words of kopilka's pages (crate::http::i18n). English; uk, ru beside it, de for
# CashtoCode's pages (ids starting with cash- or common-).

points = { $count ->
    [one] { $points } point
   *[other] { $points } points
}

common-language-switch = Language
common-sections = Sections
common-back-to-shop = Back to the shop
common-error = Error
common-error-text = Please try again. Error code { $id }.
common-request-refused = Request refused
common-refused-too-large = The form is too large.
common-refused-busy = The server is busy. Please try again in a minute.
common-refused-unread = The form did not arrive whole. Please send it again.
common-refused-invalid = The request could not be read.

cabinet-title = Personal account
cabinet-phone = Phone number
cabinet-phone-hint = With the country code, for example 380671111111
cabinet-phone-invalid = Enter the phone number with its country code.
cabinet-send-code = Get a code
cabinet-code = Code from the SMS
cabinet-code-sent = We have sent a code to { $phone }. A new number is registered after the code.
cabinet-sign-in = Sign in
cabinet-resend = Send the code again
cabinet-change-number = Change the number
cabinet-code-wrong = Wrong code.
cabinet-code-stale = The code is out of date: ask for a new one.
cabinet-code-spent = Too many attempts: ask for a new code.
cabinet-too-many-codes = Too many codes: please try again in an hour.
cabinet-sms-code = Your personal account sign-in code: { $code }
cabinet-sign-out = Sign out
cabinet-register = Registration
cabinet-register-intro = Your number is confirmed. A few more steps and you are a member of the programme.
cabinet-register-card = The programme also asks you to bind a card: you can do it in the shop or in the programme's app.
cabinet-register-password = Password
cabinet-register-password-hint = 6 to 64 characters. You will sign in to the programme's app with your phone number and this password.
cabinet-register-password-length = The password must have 6 to 64 characters.
cabinet-register-email = E-mail
cabinet-register-email-hint = We will send a code and a link to confirm it.
cabinet-register-email-code = Code from the e-mail
cabinet-register-email-waiting = We have sent a code and a link to { $email }.
cabinet-register-email-invalid = Enter an e-mail address such as name@example.com.
cabinet-register-email-needed = The programme asks for an e-mail address.
cabinet-register-email-sent = We have sent a code to your e-mail: enter it to finish the registration.
cabinet-register-optional = (optional)
cabinet-register-questions = About you
cabinet-register-choose = Choose…
cabinet-register-offer = I accept the terms of the programme.
cabinet-register-offer-text = Read the terms
cabinet-register-offer-needed = To join the programme, accept its terms.
cabinet-register-submit = Join the programme
cabinet-register-refused = The registration could not take this step. Open the page again and try once more.
cabinet-registered = Welcome to the programme! Your registration is complete.
cabinet-blocked = This account is blocked. Please contact the programme's support.
cabinet-nav-balance = Balance
cabinet-nav-history = History
cabinet-nav-profile = Profile
cabinet-balance = Balance
cabinet-spendable = Available
cabinet-held = { $points } wait for a shop's confirmation.
cabinet-expiring = Expiring soon
cabinet-expires = until { $date }
cabinet-no-expiry = These points do not expire.
cabinet-codes = Transfer codes
cabinet-no-codes = No transfers are waiting for a code.
cabinet-codes-shop = Shop
cabinet-codes-amount = Amount
cabinet-codes-code = Code
cabinet-codes-valid = Valid for
cabinet-codes-until = until { $time }
cabinet-codes-open = Open the transfer
cabinet-history = History
cabinet-history-empty = No operations yet.
cabinet-history-when = When
cabinet-history-what = Operation
cabinet-history-shop = Shop
cabinet-history-points = Points
cabinet-newer = Newer
cabinet-older = Older
cabinet-profile = Profile
cabinet-profile-phone = Phone
cabinet-profile-email = E-mail
cabinet-profile-member = Member number
cabinet-profile-since = Member since
cabinet-subscriptions = Subscriptions
cabinet-subscriptions-hint = The messages you get, by channel. System messages always come.
cabinet-subscriptions-save = Save the subscriptions
cabinet-subscriptions-saved = The subscriptions are saved.
cabinet-form-stale = The form is out of date. Open the page again and send it from there.
cabinet-mailing = { $type ->
    [DiscountOperation] Points earned
    [PaymentOperation] Paying with points
    [DepositOperation] Account top-ups
    [CommunicationOffer] Personal offers
    [Advertisement] Advertising
    [RefundOperation] Refunds
   *[other] { $type }
}
cabinet-subscription = { $channel ->
    [smsNotification] SMS
    [emailNotification] E-mail
    [pushNotification] Push notifications
    [viberNotification] Viber
    [socialNetworksNotification] Social networks
    [chatBotNotification] Chat bot
   *[other] { $channel }
}
kind-earn = Earned
kind-accrue = Credited
kind-redeem = Spent
kind-withdraw = Taken off
kind-expire = Expired
kind-reversal = Returned
kind-merge = Accounts merged
status-pending = waiting
status-voided = cancelled

bonuses = { $count ->
    [one] { $bonuses } bonus
   *[other] { $bonuses } bonuses
}

incust-redeem = Pay with bonuses
incust-earn = Earn bonuses
incust-shop = Shop
incust-order = Order amount
incust-card = Card
incust-balance = Bonuses on the card
incust-will-earn = You will earn
incust-spend = Bonuses to spend
incust-at-most = You can spend up to { $bonuses }
incust-password = Spend password
incust-code = Code from the SMS
incust-code-sent = The code was sent to { $phone }
incust-open-until = The page is open until { $time }
incust-pay = Pay with bonuses
incust-confirm-earn = Earn bonuses
incust-cancel = Cancel
incust-returning = Returning to the shop…
incust-redeemed = Paid with bonuses: { $bonuses }
incust-earned = Bonuses earned: { $bonuses }
incust-already-paid = The order is already paid with bonuses: { $bonuses }
incust-already-earned = Bonuses for this order were already earned: { $bonuses }
incust-nothing-done = Nothing was done. Go back to the shop's site and try again.
incust-check-order = Check the order on the shop's site before paying again.
incust-shop-mistake = The shop sent wrong payment data. Please tell the shop.
incust-unavailable = The service is unavailable for a moment. Please try again later.
incust-fill-in = Fill in every field of the form
incust-wrong-secret = Wrong password or code.
incust-attempts-left = Wrong password or code. Attempts left: { $left }
incust-try-later = Too many sign-in attempts; please try again later.
incust-unknown-card = No card has this phone number.
incust-card-blocked = The card is blocked.
incust-bad-amount = Enter a number of bonuses greater than zero.
incust-not-enough = Not enough bonuses.
incust-already-cancelled = This order's payment was cancelled.
incust-order-conflict = This order was already paid with another card or amount.
incust-too-many-attempts = Too many wrong codes: open the payment again for a new code.
incust-too-many-codes = Too many codes were asked for. Please try again later.
incust-page-expired = The page has expired or was already used.
incust-cancelled = You cancelled the operation.

sms-incust-earned = { $shop }: { $earned } earned. Balance: { $balance }
sms-incust-enrolled = { $shop }: welcome to { $program }; { $earned } earned. Balance: { $balance }
sms-incust-redeemed = { $shop }: { $redeemed } paid. Balance: { $balance }
sms-incust-cancelled = { $shop }: transaction { $transaction } cancelled. Balance: { $balance }
sms-incust-cancelled-returned = { $shop }: transaction { $transaction } cancelled; { $returned } returned. Balance: { $balance }
sms-incust-cancelled-taken = { $shop }: transaction { $transaction } cancelled; { $taken } taken back. Balance: { $balance }
sms-incust-code = { $shop }: your confirmation code is { $code }. Do not share it

sms-kupikupi-code = Code { $code } to transfer { $points } to { $shop }. Do not share it.

sms-loymax-code = Confirmation code: { $code }. Do not share it.
email-loymax-link = Or confirm the address by the link: { $link }
email-loymax-code-subject = Confirmation code

transfer-title = Pay with Kupi-Kupi points
transfer-shop = Shop
transfer-order = Order
transfer-amount = Amount
transfer-phone = Phone
transfer-sandbox = A test transfer: no points are taken.
transfer-code = Code from your personal account or the SMS
transfer-attempts-left = Attempts left: { $left }
transfer-pay = Transfer the points
transfer-code-format = Enter the 6 digits of the code
transfer-code-wrong = Wrong code. Attempts left: { $left }
transfer-done = The points were transferred.
transfer-expired = The time for the transfer is over.
transfer-declined = The transfer was declined.
transfer-not-found = Transfer not found
transfer-not-found-text = The link is wrong or out of date.

cash-voucher-title = CashtoCode payment code
cash-payment-title = Pay cash with CashtoCode
cash-shop = Shop
cash-order = Order
cash-amount = Amount
cash-your-code = Your payment code
cash-valid-until = Valid until
cash-barcode = Barcode of the code { $code }
cash-paid = Paid. Thank you!
cash-expired = This code has expired.
cash-declined = This payment was declined.
cash-waiting = Waiting for your cash payment.
cash-not-in-time = This payment was not completed in time.
cash-check-again = Check again
cash-refreshes = This page checks for your payment every { $seconds } seconds.
cash-how-to = How to pay
cash-step-1 = Go to a CashtoCode cash terminal in Austria or Germany.
cash-step-2 = Choose CashtoCode and scan the barcode or type in the code.
cash-step-3 = Insert exactly { $amount } in cash.
cash-step-4 = Keep the receipt. The shop is told as soon as you have paid.
cash-method = Payment method
cash-method-cashtocode = Cash at a terminal (CashtoCode, Austria and Germany)
cash-first-name = First name
cash-last-name = Last name
cash-birth-date = Date of birth
cash-country = Country of residence
cash-choose-country = Choose your country
cash-country-hint = CashtoCode takes fixed amounts, set by country; choose the country you live in.
cash-get-code = Get my cash code
cash-fill-in = Please fill in: { $fields }
cash-field-first_name = first name
cash-field-last_name = last name
cash-field-day_of_birth = date of birth
cash-field-country = country
cash-birth-invalid = Please enter the date of birth as a date (day, month, year).
cash-or = or
cash-country-AT = Austria
cash-country-DE = Germany
cash-takes = In { $country } CashtoCode takes { $limits }: { $amount } can be paid there.
cash-takes-not = In { $country } CashtoCode takes { $limits }: { $amount } cannot be paid there, and choosing { $country } declines this payment.
cash-declined-amount = In { $country } CashtoCode takes { $limits }: { $amount } cannot be paid there.
cash-declined-fixed = CashtoCode takes fixed amounts only: { $amount } is not one of them.
cash-declined-currency = CashtoCode takes payments in { $currency } only.
cash-declined-country = CashtoCode serves customers in Austria and Germany only.
cash-error-title = Payment cannot be opened
cash-error = Error { $code }
cash-parameter = Parameter
cash-try-again = Please return to the shop and try again.
cash-payment = Payment

cabinet-nav-social = Social networks
social-title = Social networks
social-linked-account = linked ({ $account })
social-link = Link
social-unavailable = not available
social-back = Back
social-signin-title = Sign in with a social network
social-signin-none = Signing in with social networks is not set up in this program.
social-signin-with = Sign in with { $network }
social-signin-registers = If the profile is not linked yet, we will register you in the program.
social-signin-by-phone = Sign in by phone
social-not-configured = This social network is not set up in the program.
social-no-network = No such network.
social-no-program = No such program.
social-link-incomplete = The link is incomplete: start linking again.
social-link-stale = The link has expired or was used already: start again.
social-other-browser = Linking was started in another browser or session: start again.
social-network-refused = The network did not grant access: start again.
social-no-code = The network returned no code: start again.
social-network-failed = The network did not confirm the sign-in: start again.
social-linked-new = Profile linked.
social-linked-already = This profile is linked already.
social-linked-taken = This profile is linked to another member.
social-linked-other = You have another profile of this network linked already.
social-just-registered = This profile was registered just now: sign in again.
