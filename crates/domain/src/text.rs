//! How long a client's text may be. Every text a request carries is stored, echoed or
//! compared, so none is unbounded: fields with a protocol's own maximum (an inCust comment, a
//! Loymax batch description, an ECommPay payment id, a native description) are checked where
//! they are parsed; every other text is held to [`MAX_TEXT_CHARS`] at the edge of each
//! surface, which names the field (docs/abuse.md, "Text lengths").

/// The most characters of any one text in a request — a JSON string, a form value, an XML
/// element's text or attribute — as the client means it (an escape is one character).
pub const MAX_TEXT_CHARS: usize = 4_096;
