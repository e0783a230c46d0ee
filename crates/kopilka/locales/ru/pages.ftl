# Русский. Страницы CashtoCode — на английском и немецком (en, de).

points = { $count ->
    [one] { $points } балл
    [few] { $points } балла
    [many] { $points } баллов
   *[other] { $points } балла
}

common-language-switch = Язык
common-sections = Разделы
common-back-to-shop = Вернуться в магазин
common-error = Ошибка
common-error-text = Попробуйте ещё раз. Код ошибки { $id }.
common-request-refused = Запрос отклонён
common-refused-too-large = Форма слишком велика.
common-refused-busy = Сервер занят. Попробуйте через минуту.
common-refused-unread = Форма пришла не целиком. Отправьте её ещё раз.
common-refused-invalid = Запрос не удалось прочитать.

cabinet-title = Личный кабинет
cabinet-phone = Номер телефона
cabinet-phone-hint = С кодом страны, например 79000000000
cabinet-phone-invalid = Введите номер телефона с кодом страны.
cabinet-send-code = Получить код
cabinet-code = Код из SMS
cabinet-code-sent = Мы отправили код на { $phone }. Новый номер зарегистрируем после кода.
cabinet-sign-in = Войти
cabinet-resend = Отправить код ещё раз
cabinet-change-number = Сменить номер
cabinet-code-wrong = Неверный код.
cabinet-code-stale = Код устарел: запросите новый.
cabinet-code-spent = Слишком много попыток: запросите новый код.
cabinet-too-many-codes = Слишком много кодов: попробуйте через час.
cabinet-sms-code = Код для входа в личный кабинет: { $code }
cabinet-sign-out = Выйти
cabinet-register = Регистрация
cabinet-register-intro = Номер подтверждён. Ещё несколько шагов — и вы участник программы.
cabinet-register-card = Программа также просит привязать карту: это можно сделать в магазине или в приложении программы.
cabinet-register-password = Пароль
cabinet-register-password-hint = От 6 до 64 символов. В приложение программы вы будете входить по номеру телефона и этому паролю.
cabinet-register-password-length = Пароль должен содержать от 6 до 64 символов.
cabinet-register-email = Электронная почта
cabinet-register-email-hint = Мы отправим код и ссылку для подтверждения.
cabinet-register-email-code = Код из письма
cabinet-register-email-waiting = Мы отправили код и ссылку на { $email }.
cabinet-register-email-invalid = Введите адрес почты, например name@example.com.
cabinet-register-email-needed = Программа просит указать адрес электронной почты.
cabinet-register-email-sent = Мы отправили код на вашу почту: введите его, чтобы завершить регистрацию.
cabinet-register-optional = (необязательно)
cabinet-register-questions = О вас
cabinet-register-choose = Выберите…
cabinet-register-offer = Я принимаю условия программы.
cabinet-register-offer-text = Прочитать условия
cabinet-register-offer-needed = Чтобы стать участником, примите условия программы.
cabinet-register-submit = Стать участником
cabinet-register-refused = Не удалось выполнить этот шаг регистрации. Откройте страницу ещё раз и попробуйте снова.
cabinet-registered = Добро пожаловать в программу! Регистрация завершена.
cabinet-blocked = Этот аккаунт заблокирован. Обратитесь в поддержку программы.
cabinet-nav-balance = Баланс
cabinet-nav-history = История
cabinet-nav-profile = Профиль
cabinet-balance = Баланс
cabinet-spendable = Доступно
cabinet-held = { $points } ждут подтверждения магазина.
cabinet-expiring = Скоро сгорят
cabinet-expires = до { $date }
cabinet-no-expiry = Эти баллы не сгорают.
cabinet-codes = Коды для переводов
cabinet-no-codes = Нет переводов, ждущих кода.
cabinet-codes-shop = Магазин
cabinet-codes-amount = Сумма
cabinet-codes-code = Код
cabinet-codes-valid = Действует ещё
cabinet-codes-until = до { $time }
cabinet-codes-open = Открыть перевод
cabinet-history = История
cabinet-history-empty = Операций пока нет.
cabinet-history-when = Когда
cabinet-history-what = Операция
cabinet-history-shop = Магазин
cabinet-history-points = Баллы
cabinet-newer = Новее
cabinet-older = Старше
cabinet-profile = Профиль
cabinet-profile-phone = Телефон
cabinet-profile-email = Электронная почта
cabinet-profile-member = Номер участника
cabinet-profile-since = Участник с
cabinet-subscriptions = Подписки
cabinet-subscriptions-hint = Какие сообщения и куда вам присылать. Системные сообщения приходят всегда.
cabinet-subscriptions-save = Сохранить подписки
cabinet-subscriptions-saved = Подписки сохранены.
cabinet-form-stale = Форма устарела. Откройте страницу снова и отправьте форму оттуда.
cabinet-mailing = { $type ->
    [DiscountOperation] Начисление баллов
    [PaymentOperation] Оплата баллами
    [DepositOperation] Пополнение счёта
    [CommunicationOffer] Персональные предложения
    [Advertisement] Рекламные рассылки
    [RefundOperation] Возвраты
   *[other] { $type }
}
cabinet-subscription = { $channel ->
    [smsNotification] SMS
    [emailNotification] Электронная почта
    [pushNotification] Push-уведомления
    [viberNotification] Viber
    [socialNetworksNotification] Социальные сети
    [chatBotNotification] Чат-бот
   *[other] { $channel }
}
kind-earn = Начислено
kind-accrue = Зачислено
kind-redeem = Потрачено
kind-withdraw = Списано
kind-expire = Сгорели
kind-reversal = Возврат
kind-merge = Объединение счетов
status-pending = ждёт
status-voided = отменено

bonuses = { $count ->
    [one] { $bonuses } бонус
    [few] { $bonuses } бонуса
    [many] { $bonuses } бонусов
   *[other] { $bonuses } бонуса
}

incust-redeem = Оплата бонусами
incust-earn = Начисление бонусов
incust-shop = Магазин
incust-order = Сумма заказа
incust-card = Карточка
incust-balance = Бонусов на карточке
incust-will-earn = Будет начислено
incust-spend = Сколько бонусов потратить
incust-at-most = Можно потратить не больше { $bonuses }
incust-password = Пароль на трату бонусов
incust-code = Код из SMS
incust-code-sent = Код отправлен на номер { $phone }
incust-open-until = Страница открыта до { $time }
incust-pay = Оплатить бонусами
incust-confirm-earn = Начислить бонусы
incust-cancel = Отмена
incust-returning = Возвращаемся в магазин…
incust-redeemed = Оплачено бонусами: { $bonuses }
incust-earned = Начислено: { $bonuses }
incust-already-paid = Заказ уже оплачен бонусами: { $bonuses }
incust-already-earned = Бонусы за этот заказ уже начислены: { $bonuses }
incust-nothing-done = Операция не проведена. Вернитесь на сайт магазина и попробуйте снова.
incust-check-order = Проверьте состояние заказа на сайте магазина, прежде чем платить снова.
incust-shop-mistake = Магазин передал неверные данные для оплаты. Сообщите об этом магазину.
incust-unavailable = Сервис временно недоступен. Попробуйте позже.
incust-fill-in = Заполните все поля формы
incust-wrong-secret = Неверный пароль или код.
incust-attempts-left = Неверный пароль или код. Осталось попыток: { $left }
incust-try-later = Слишком много попыток входа, повторите позже.
incust-unknown-card = Карточка с таким номером телефона не найдена.
incust-card-blocked = Карточка заблокирована.
incust-bad-amount = Укажите число бонусов больше нуля.
incust-not-enough = Недостаточно бонусов.
incust-already-cancelled = Оплата этого заказа отменена.
incust-order-conflict = Этот заказ уже оплачен другой карточкой или на другую сумму.
incust-too-many-attempts = Слишком много неверных кодов: откройте оплату снова, чтобы получить новый код.
incust-too-many-codes = Слишком много запросов кода. Попробуйте позже.
incust-page-expired = Страница устарела или уже использована.
incust-cancelled = Вы отменили операцию.

sms-incust-earned = { $shop }: начислено { $earned }. Баланс: { $balance }
sms-incust-enrolled = { $shop }: вы стали участником программы «{ $program }», начислено { $earned }. Баланс: { $balance }
sms-incust-redeemed = { $shop }: оплачено { $redeemed }. Баланс: { $balance }
sms-incust-cancelled = { $shop }: операция { $transaction } отменена. Баланс: { $balance }
sms-incust-cancelled-returned = { $shop }: операция { $transaction } отменена, возвращено { $returned }. Баланс: { $balance }
sms-incust-cancelled-taken = { $shop }: операция { $transaction } отменена, списано { $taken }. Баланс: { $balance }
sms-incust-code = { $shop }: код подтверждения { $code }. Никому его не сообщайте

sms-kupikupi-code = Код { $code } для перевода { $points } в { $shop }. Никому его не сообщайте.

sms-loymax-code = Код подтверждения: { $code }. Никому его не сообщайте.
email-loymax-link = Или подтвердите адрес по ссылке: { $link }
email-loymax-code-subject = Код подтверждения

transfer-title = Оплата баллами Купи-Купи
transfer-shop = Магазин
transfer-order = Заказ
transfer-amount = Сумма
transfer-phone = Телефон
transfer-sandbox = Тестовый перевод: баллы не списываются.
transfer-code = Код из личного кабинета или SMS
transfer-attempts-left = Осталось попыток: { $left }
transfer-pay = Перевести баллы
transfer-code-format = Введите 6 цифр кода
transfer-code-wrong = Неверный код. Осталось попыток: { $left }
transfer-done = Баллы переведены.
transfer-expired = Время на перевод истекло.
transfer-declined = Перевод отклонён.
transfer-not-found = Перевод не найден
transfer-not-found-text = Ссылка неверна или устарела.

cabinet-nav-social = Соцсети
social-title = Социальные сети
social-linked-account = привязан ({ $account })
social-link = Привязать
social-unavailable = недоступно
social-back = Назад
social-signin-title = Вход через социальную сеть
social-signin-none = Вход через социальные сети в этой программе не настроен.
social-signin-with = Войти через { $network }
social-signin-registers = Если профиль ещё не привязан, мы зарегистрируем вас в программе.
social-signin-by-phone = Войти по телефону
social-not-configured = Эта социальная сеть в программе не настроена.
social-no-network = Нет такой сети.
social-no-program = Нет такой программы.
social-link-incomplete = Ссылка неполная: начните привязку заново.
social-link-stale = Ссылка устарела или уже использована: начните заново.
social-other-browser = Привязка начата в другом браузере или сеансе: начните заново.
social-network-refused = Сеть не дала доступ: начните заново.
social-no-code = Сеть не вернула код: начните заново.
social-network-failed = Сеть не подтвердила вход: начните заново.
social-linked-new = Профиль привязан.
social-linked-already = Этот профиль уже привязан.
social-linked-taken = Этот профиль привязан к другому участнику.
social-linked-other = У вас уже привязан другой профиль этой сети.
social-just-registered = Этот профиль только что зарегистрирован: войдите ещё раз.
