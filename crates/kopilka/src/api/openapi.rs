//! The admin API's OpenAPI document: each route's `#[utoipa::path]` is registered with its
//! handler (`utoipa_axum::routes!`), so a route cannot exist without its documentation; what is
//! common to every admin operation (tag, operationId prefix, bearer security, error answers,
//! path parameters) is added here, in one pass.

use crate::http::ErrorBody;
use crate::state::AppState;
use kopilka_domain::operator::{classify, Action};
use utoipa::openapi::path::{HttpMethod, Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::Tag;
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Required, SecurityRequirement};
use utoipa::{OpenApi as _, PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;

/// The security scheme every admin operation requires.
const SCHEME: &str = "admin";

#[derive(utoipa::OpenApi)]
#[openapi(info(
    title = "kopilka admin API",
    description = "Administration of programs, merchants, customers, cards, the points ledger and each protocol's merchants (ECommPay, Loymax, Kupi-Kupi). Every operation but `POST /v1/sign-in` takes a token as `Authorization: Bearer …`: an operator's (from sign-in) or the bootstrap admin token of `serve`; the operator's role decides what it may do (403 otherwise). Amounts are decimal strings (or JSON numbers) in the currency's units, parsed exactly; every `*_minor` field is the same amount in integer minor units. Errors are `{\"error\": {\"code\", \"field\", \"message\"}}`. Field names are snake_case."
))]
struct Info;

/// An area's routes: each operation tagged `area` and its operationId `{area}_{handler}`, so
/// operationIds are unique across the document while handlers keep short names.
/// Areas are listed in the document in the order they are added.
pub fn area(area: &str, mut routes: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    let document = routes.get_openapi_mut();
    document.tags = Some(vec![Tag::new(area)]);
    for (_, _, operation) in operations(&mut document.paths) {
        operation.tags = Some(vec![area.to_string()]);
        let handler = operation.operation_id.take().unwrap_or_default();
        operation.operation_id = Some(format!("{area}_{handler}"));
    }
    routes
}

/// The complete document of `routes` (every admin route): info, the bearer scheme, and on every
/// operation its security, its undeclared path parameters and its error answers.
pub fn document(routes: OpenApi) -> OpenApi {
    let mut document = Info::openapi();
    document.merge(routes);
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        SCHEME,
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    let mut error_schemas = Vec::new();
    ErrorBody::schemas(&mut error_schemas);
    components
        .schemas
        .insert(ErrorBody::name().into_owned(), ErrorBody::schema());
    components.schemas.extend(error_schemas);
    for (path, method, operation) in operations(&mut document.paths) {
        let open = classify(method_name(&method), &path) == Some(Action::SignIn);
        operation.security = Some(match open {
            true => Vec::new(),
            false => vec![SecurityRequirement::new::<_, _, &str>(SCHEME, [])],
        });
        declare_path_parameters(&path, operation);
        let takes_query = operation
            .parameters
            .iter()
            .flatten()
            .any(|p| matches!(p.parameter_in, ParameterIn::Query));
        let takes_input = operation.request_body.is_some() || takes_query;
        for (status, response) in operation.responses.responses.iter_mut() {
            if let RefOr::T(response) = response {
                if response.description.is_empty() {
                    response.description = success(status).to_string();
                }
            }
        }
        add_error(operation, "401", "No or a wrong admin token");
        if !open {
            add_error(operation, "403", "The token's role may not do this");
        }
        if path.contains('{') {
            add_error(operation, "404", "No such resource");
        }
        if takes_query {
            add_error(
                operation,
                "400",
                "A query parameter does not parse (a time not RFC 3339, `to` not after `from`); `field` names it",
            );
        }
        if takes_input {
            add_error(operation, "422", "Invalid input; `field` names it");
        }
    }
    document
}

/// A method as the role rules name it.
fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Put => "PUT",
        HttpMethod::Post => "POST",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Patch => "PATCH",
        _ => "OTHER",
    }
}

/// Every operation of `paths` with its path and method.
fn operations(
    paths: &mut utoipa::openapi::Paths,
) -> impl Iterator<Item = (String, HttpMethod, &mut Operation)> {
    paths.paths.iter_mut().flat_map(|(path, item)| {
        [
            (HttpMethod::Get, &mut item.get),
            (HttpMethod::Put, &mut item.put),
            (HttpMethod::Post, &mut item.post),
            (HttpMethod::Delete, &mut item.delete),
            (HttpMethod::Patch, &mut item.patch),
        ]
        .into_iter()
        .filter_map(move |(method, operation)| {
            operation
                .as_mut()
                .map(|operation| (path.clone(), method, operation))
        })
    })
}

/// Path parameters named in the template but not in the operation: `id` is the `Id`
/// extractor's integer, any other a string.
fn declare_path_parameters(path: &str, operation: &mut Operation) {
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    for name in path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
    {
        let declared = parameters
            .iter()
            .any(|p| p.name == name && matches!(p.parameter_in, ParameterIn::Path));
        if declared {
            continue;
        }
        let schema = if name == "id" {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        } else {
            ObjectBuilder::new().schema_type(Type::String)
        };
        parameters.push(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(schema))
                .build(),
        );
    }
}

/// The description of a success answer its handler leaves undescribed.
fn success(status: &str) -> &'static str {
    match status {
        "201" => "Created",
        "204" => "Done",
        _ => "OK",
    }
}

/// An error answer with the error body, unless the operation documents that status already.
fn add_error(operation: &mut Operation, status: &str, description: &str) {
    if operation.responses.responses.contains_key(status) {
        return;
    }
    let response: Response = ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name(ErrorBody::name()))),
        )
        .build();
    operation
        .responses
        .responses
        .insert(status.to_string(), response.into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_parameter_is_declared_once() {
        let mut operation = Operation::new();
        declare_path_parameters("/v1/things/{id}/parts/{name}", &mut operation);
        declare_path_parameters("/v1/things/{id}/parts/{name}", &mut operation);
        let names: Vec<_> = operation
            .parameters
            .iter()
            .flatten()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["id", "name"]);
    }
}
