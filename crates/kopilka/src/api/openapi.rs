use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "kopilka native API", description = "Administration of programs, merchants, customers, cards and the points ledger. Amounts are decimal strings (or JSON numbers) in the currency's units, parsed exactly; every `*_minor` field is the same amount in integer minor units."),
    paths(
        super::programs::list, super::programs::create, super::programs::get, super::programs::update,
        super::offers::create, super::offers::list, super::offers::event,
        super::merchants::list, super::merchants::create, super::merchants::get, super::merchants::update,
        super::merchants::list_credentials, super::merchants::add_credential, super::merchants::rotate_webhook_secret,
        super::customers::list, super::customers::create, super::customers::get, super::customers::set_pin,
        super::customers::balances, super::customers::list_cards, super::customers::create_card, super::customers::get_card,
        super::operations::list, super::operations::create, super::operations::get,
        super::operations::confirm, super::operations::void, super::operations::reverse, super::operations::audit,
        super::messages::list, super::messages::get, super::messages::attempts, super::messages::resend,
    ),
    modifiers(&AdminAuth)
)]
pub struct ApiDoc;

struct AdminAuth;

impl Modify for AdminAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The native API's own routes; the server merges in the protocols' `/v1` admin routes.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
