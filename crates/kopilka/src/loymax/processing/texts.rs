//! The texts a till shows (`errorMessage`, `cashierMessage`, validation messages): Russian,
//! or English where the program's language is English, never mixed within one answer.

use kopilka_domain::loymax_purchase::Code;
use kopilka_domain::program::ProgramRules;

#[derive(Debug, Clone, Copy, Default)]
pub struct Texts {
    english: bool,
}

impl Texts {
    pub fn of(rules: &ProgramRules) -> Texts {
        Texts {
            english: rules.language == "en",
        }
    }

    pub fn pick(self, ru: &'static str, en: &'static str) -> &'static str {
        if self.english {
            en
        } else {
            ru
        }
    }

    pub fn bad_amount(self, decimals: u8) -> String {
        if self.english {
            format!("a non-negative number with at most {decimals} decimals")
        } else {
            format!("неотрицательное число, не более {decimals} знаков после запятой")
        }
    }

    pub fn too_long(self, max: usize) -> String {
        if self.english {
            format!("at most {max} characters")
        } else {
            format!("не длиннее {max} символов")
        }
    }

    pub fn positive_amount(self, decimals: u8) -> String {
        if self.english {
            format!("a number above zero with at most {decimals} decimals")
        } else {
            format!("число больше нуля, не более {decimals} знаков после запятой")
        }
    }

    pub fn too_long_bytes(self, max: usize) -> String {
        if self.english {
            format!("at most {max} bytes")
        } else {
            format!("не длиннее {max} байт")
        }
    }

    pub fn nul(self) -> &'static str {
        self.pick(
            "недопустимый символ U+0000",
            "the character U+0000 is not allowed",
        )
    }

    /// A batch request refused for its rows.
    pub fn rows_at_fault(self, count: usize) -> String {
        if self.english {
            format!("Rows at fault: {count}; nothing applied")
        } else {
            format!("Строк с ошибками: {count}; ничего не применено")
        }
    }

    pub fn too_many_lines(self, max: usize) -> String {
        if self.english {
            format!("at most {max} items")
        } else {
            format!("не более {max} элементов")
        }
    }

    /// Why a method may not come now (`check_order`'s codes).
    pub fn order(self, code: Code) -> &'static str {
        match code {
            Code::PurchaseNotFound => self.pick("Покупка не найдена", "Purchase not found"),
            Code::OperationIsCanceled => self.pick("Покупка отменена", "The purchase is cancelled"),
            Code::OperationIsConfirmed => self.pick(
                "Покупка уже подтверждена",
                "The purchase is already confirmed",
            ),
            Code::ConfirmedPurchaseOperation => {
                self.pick("Покупка подтверждена", "The purchase is confirmed")
            }
            Code::PurchaseExtraPayment => {
                self.pick("Покупка уже оплачена", "The purchase is already paid")
            }
            _ => self.pick("Неверный порядок операций", "Wrong order of operations"),
        }
    }

    pub fn payment(self, code: Code) -> &'static str {
        match code {
            Code::LargePaymentAmount => self.pick(
                "Сумма оплаты больше доступной",
                "The payment exceeds the amount available",
            ),
            Code::NotEnoughMoney => self.pick("Недостаточно бонусов", "Not enough points"),
            Code::CardBlocked => self.pick("Участник заблокирован", "The member is blocked"),
            _ => self.pick("Сумма оплаты не указана", "The payment amount is missing"),
        }
    }

    pub fn cancel_operation(self, code: Code) -> &'static str {
        match code {
            Code::OperationIsCanceled => self.pick(
                "Операция уже отменена",
                "The operation is already cancelled",
            ),
            Code::ConfirmedPurchaseOperation => self.pick(
                "Покупка подтверждена: отмените её целиком",
                "The purchase is confirmed: cancel it whole",
            ),
            _ => self.pick(
                "Операцию нельзя отменить",
                "The operation cannot be cancelled",
            ),
        }
    }

    pub fn unknown_coupon(self, coupon: &str) -> String {
        if self.english {
            format!("Coupon {coupon} not found")
        } else {
            format!("Купон {coupon} не найден")
        }
    }

    pub fn applied(self, names: &str) -> String {
        if self.english {
            format!("Applied: {names}")
        } else {
            format!("Применено: {names}")
        }
    }
}
