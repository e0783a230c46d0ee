//! Ids of the rows the ledger names, one type each so that a customer's id never reaches a
//! place that wants a merchant's. Serialized as the bare number.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id!(
    /// A loyalty program: its rules, currency and members.
    ProgramId
);
id!(
    /// A member of a program.
    CustomerId
);
id!(
    /// A shop of a program.
    MerchantId
);
id!(
    /// A ledger operation: the monotonic number protocols show.
    OperationId
);
id!(
    /// An offer ("акция"): the same id across its versions.
    OfferId
);
