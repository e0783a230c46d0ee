# Українська. Сторінки CashtoCode — англійською та німецькою (en, de).

points = { $count ->
    [one] { $points } бал
    [few] { $points } бали
    [many] { $points } балів
   *[other] { $points } бала
}

common-language-switch = Мова
common-sections = Розділи
common-back-to-shop = Повернутися до магазину
common-error = Помилка
common-error-text = Спробуйте ще раз. Код помилки { $id }.
common-request-refused = Запит відхилено
common-refused-too-large = Форма завелика.
common-refused-busy = Сервер зайнятий. Спробуйте за хвилину.
common-refused-unread = Форма надійшла не повністю. Надішліть її ще раз.
common-refused-invalid = Запит не вдалося прочитати.

cabinet-title = Особистий кабінет
cabinet-phone = Номер телефону
cabinet-phone-hint = З кодом країни, наприклад 380671111111
cabinet-phone-invalid = Введіть номер телефону з кодом країни.
cabinet-send-code = Отримати код
cabinet-code = Код із SMS
cabinet-code-sent = Ми надіслали код на { $phone }. Новий номер зареєструємо після коду.
cabinet-sign-in = Увійти
cabinet-resend = Надіслати код ще раз
cabinet-change-number = Змінити номер
cabinet-code-wrong = Невірний код.
cabinet-code-stale = Код застарів: запросіть новий.
cabinet-code-spent = Забагато спроб: запросіть новий код.
cabinet-too-many-codes = Забагато кодів: спробуйте за годину.
cabinet-sms-code = Код для входу в особистий кабінет: { $code }
cabinet-sign-out = Вийти
cabinet-register = Реєстрація
cabinet-register-intro = Номер підтверджено. Ще кілька кроків — і ви учасник програми.
cabinet-register-card = Програма також просить прив'язати картку: це можна зробити в магазині або в застосунку програми.
cabinet-register-password = Пароль
cabinet-register-password-hint = Від 6 до 64 символів. До застосунку програми ви входитимете за номером телефону й цим паролем.
cabinet-register-password-length = Пароль має містити від 6 до 64 символів.
cabinet-register-email = Електронна пошта
cabinet-register-email-hint = Ми надішлемо код і посилання для підтвердження.
cabinet-register-email-code = Код із листа
cabinet-register-email-waiting = Ми надіслали код і посилання на { $email }.
cabinet-register-email-invalid = Введіть адресу пошти, наприклад name@example.com.
cabinet-register-email-needed = Програма просить вказати адресу електронної пошти.
cabinet-register-email-sent = Ми надіслали код на вашу пошту: введіть його, щоб завершити реєстрацію.
cabinet-register-optional = (необов'язково)
cabinet-register-questions = Про вас
cabinet-register-choose = Оберіть…
cabinet-register-offer = Я приймаю умови програми.
cabinet-register-offer-text = Прочитати умови
cabinet-register-offer-needed = Щоб стати учасником, прийміть умови програми.
cabinet-register-submit = Стати учасником
cabinet-register-refused = Не вдалося виконати цей крок реєстрації. Відкрийте сторінку ще раз і спробуйте знову.
cabinet-registered = Ласкаво просимо до програми! Реєстрацію завершено.
cabinet-blocked = Цей обліковий запис заблоковано. Зверніться до підтримки програми.
cabinet-nav-balance = Баланс
cabinet-nav-history = Історія
cabinet-nav-profile = Профіль
cabinet-balance = Баланс
cabinet-spendable = Доступно
cabinet-held = { $points } чекають на підтвердження магазину.
cabinet-expiring = Незабаром згорять
cabinet-expires = до { $date }
cabinet-no-expiry = Ці бали не згорають.
cabinet-codes = Коди для переказів
cabinet-no-codes = Немає переказів, що чекають на код.
cabinet-codes-shop = Магазин
cabinet-codes-amount = Сума
cabinet-codes-code = Код
cabinet-codes-valid = Дійсний ще
cabinet-codes-until = до { $time }
cabinet-codes-open = Відкрити переказ
cabinet-history = Історія
cabinet-history-empty = Операцій ще немає.
cabinet-history-when = Коли
cabinet-history-what = Операція
cabinet-history-shop = Магазин
cabinet-history-points = Бали
cabinet-newer = Новіші
cabinet-older = Старіші
cabinet-profile = Профіль
cabinet-profile-phone = Телефон
cabinet-profile-email = Електронна пошта
cabinet-profile-member = Номер учасника
cabinet-profile-since = Учасник з
cabinet-subscriptions = Підписки
cabinet-subscriptions-hint = Які повідомлення й куди вам надсилати. Системні повідомлення надходять завжди.
cabinet-subscriptions-save = Зберегти підписки
cabinet-subscriptions-saved = Підписки збережено.
cabinet-form-stale = Форма застаріла. Відкрийте сторінку знову й надішліть форму звідти.
cabinet-mailing = { $type ->
    [DiscountOperation] Нарахування балів
    [PaymentOperation] Оплата балами
    [DepositOperation] Поповнення рахунку
    [CommunicationOffer] Персональні пропозиції
    [Advertisement] Рекламні розсилки
    [RefundOperation] Повернення
   *[other] { $type }
}
cabinet-subscription = { $channel ->
    [smsNotification] SMS
    [emailNotification] Електронна пошта
    [pushNotification] Push-сповіщення
    [viberNotification] Viber
    [socialNetworksNotification] Соціальні мережі
    [chatBotNotification] Чат-бот
   *[other] { $channel }
}
kind-earn = Нараховано
kind-accrue = Зараховано
kind-redeem = Витрачено
kind-withdraw = Списано
kind-expire = Згоріли
kind-reversal = Повернення
kind-merge = Об'єднання рахунків
status-pending = очікує
status-voided = скасовано

bonuses = { $count ->
    [one] { $bonuses } бонус
    [few] { $bonuses } бонуси
    [many] { $bonuses } бонусів
   *[other] { $bonuses } бонуса
}

incust-redeem = Оплата бонусами
incust-earn = Нарахування бонусів
incust-shop = Магазин
incust-order = Сума замовлення
incust-card = Картка
incust-balance = Бонусів на картці
incust-will-earn = Буде нараховано
incust-spend = Скільки бонусів витратити
incust-at-most = Можна витратити не більше { $bonuses }
incust-password = Пароль на витрату бонусів
incust-code = Код з SMS
incust-code-sent = Код надіслано на номер { $phone }
incust-open-until = Сторінка відкрита до { $time }
incust-pay = Оплатити бонусами
incust-confirm-earn = Нарахувати бонуси
incust-cancel = Скасувати
incust-returning = Повертаємося до магазину…
incust-redeemed = Оплачено бонусами: { $bonuses }
incust-earned = Нараховано: { $bonuses }
incust-already-paid = Замовлення вже оплачено бонусами: { $bonuses }
incust-already-earned = Бонуси за це замовлення вже нараховано: { $bonuses }
incust-nothing-done = Операцію не проведено. Поверніться на сайт магазину і спробуйте ще раз.
incust-check-order = Перевірте стан замовлення на сайті магазину, перш ніж платити знову.
incust-shop-mistake = Магазин передав неправильні дані для оплати. Повідомте про це магазин.
incust-unavailable = Сервіс тимчасово недоступний. Спробуйте пізніше.
incust-fill-in = Заповніть усі поля форми
incust-wrong-secret = Неправильний пароль або код.
incust-attempts-left = Неправильний пароль або код. Залишилося спроб: { $left }
incust-try-later = Забагато спроб входу, повторіть пізніше.
incust-unknown-card = Картку з таким номером телефону не знайдено.
incust-card-blocked = Картку заблоковано.
incust-bad-amount = Вкажіть кількість бонусів, більшу за нуль.
incust-not-enough = Недостатньо бонусів.
incust-already-cancelled = Оплату цього замовлення скасовано.
incust-order-conflict = Це замовлення вже оплачено іншою карткою або на іншу суму.
incust-too-many-attempts = Забагато неправильних кодів: відкрийте оплату знову, щоб отримати новий код.
incust-too-many-codes = Забагато запитів коду. Спробуйте пізніше.
incust-page-expired = Сторінка застаріла або вже використана.
incust-cancelled = Ви скасували операцію.

sms-incust-earned = { $shop }: нараховано { $earned }. Баланс: { $balance }
sms-incust-enrolled = { $shop }: ви стали учасником програми «{ $program }», нараховано { $earned }. Баланс: { $balance }
sms-incust-redeemed = { $shop }: оплачено { $redeemed }. Баланс: { $balance }
sms-incust-cancelled = { $shop }: операцію { $transaction } скасовано. Баланс: { $balance }
sms-incust-cancelled-returned = { $shop }: операцію { $transaction } скасовано, повернуто { $returned }. Баланс: { $balance }
sms-incust-cancelled-taken = { $shop }: операцію { $transaction } скасовано, списано { $taken }. Баланс: { $balance }
sms-incust-code = { $shop }: код підтвердження { $code }. Нікому його не повідомляйте

sms-kupikupi-code = Код { $code } для переказу { $points } до { $shop }. Нікому його не повідомляйте.

sms-loymax-code = Код підтвердження: { $code }. Нікому його не повідомляйте.
email-loymax-link = Або підтвердіть адресу за посиланням: { $link }
email-loymax-code-subject = Код підтвердження

transfer-title = Оплата балами Купі-Купі
transfer-shop = Магазин
transfer-order = Замовлення
transfer-amount = Сума
transfer-phone = Телефон
transfer-sandbox = Тестовий переказ: бали не списуються.
transfer-code = Код з особистого кабінету або SMS
transfer-attempts-left = Залишилось спроб: { $left }
transfer-pay = Перевести бали
transfer-code-format = Введіть 6 цифр коду
transfer-code-wrong = Невірний код. Залишилось спроб: { $left }
transfer-done = Бали переведено.
transfer-expired = Час на переказ минув.
transfer-declined = Переказ відхилено.
transfer-not-found = Переказ не знайдено
transfer-not-found-text = Посилання невірне або застаріле.

cabinet-nav-social = Соцмережі
social-title = Соціальні мережі
social-linked-account = прив'язано ({ $account })
social-link = Прив'язати
social-unavailable = недоступно
social-back = Назад
social-signin-title = Вхід через соціальну мережу
social-signin-none = Вхід через соціальні мережі в цій програмі не налаштовано.
social-signin-with = Увійти через { $network }
social-signin-registers = Якщо профіль ще не прив'язано, ми зареєструємо вас у програмі.
social-signin-by-phone = Увійти за телефоном
social-not-configured = Цю соціальну мережу в програмі не налаштовано.
social-no-network = Такої мережі немає.
social-no-program = Такої програми немає.
social-link-incomplete = Посилання неповне: почніть прив'язку знову.
social-link-stale = Посилання застаріло або вже використане: почніть знову.
social-other-browser = Прив'язку почато в іншому браузері або сеансі: почніть знову.
social-network-refused = Мережа не надала доступ: почніть знову.
social-no-code = Мережа не повернула код: почніть знову.
social-network-failed = Мережа не підтвердила вхід: почніть знову.
social-linked-new = Профіль прив'язано.
social-linked-already = Цей профіль уже прив'язано.
social-linked-taken = Цей профіль прив'язано до іншого учасника.
social-linked-other = У вас уже прив'язано інший профіль цієї мережі.
social-just-registered = Цей профіль щойно зареєстровано: увійдіть ще раз.
