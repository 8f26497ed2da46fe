//! The answers an operation can give whatever its handler does, written into the OpenAPI
//! document once instead of in every handler's `#[utoipa::path]`: a request that cannot be
//! read (400, 413, 415, 422 from the extractors), a lead outside the caller's scope (404 from
//! [`super::access::authenticate`]), storage that does not answer (503). Handlers declare
//! their own answers (404 for what they look up, 409, 422 for what they check); every error
//! answer, theirs and these, has the `Error` body.

use utoipa::openapi::path::Operation;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

/// Adds the common answers to every operation and the `Error` body to every error answer.
pub struct Answers;

impl utoipa::Modify for Answers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                add_common(path, operation);
                for response in operation.responses.responses.iter_mut() {
                    if let (status, RefOr::T(response)) = response
                        && is_error(status)
                        && response.content.is_empty()
                    {
                        response
                            .content
                            .insert("application/json".into(), error_content());
                    }
                }
            }
        }
    }
}

fn add_common(path: &str, operation: &mut Operation) {
    let parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let body = operation.request_body.as_ref().map(|b| &b.content);
    let json = body.is_some_and(|c| c.contains_key("application/json"));
    let mut common = Vec::new();
    if parameters || body.is_some() {
        common.push((
            "400",
            "The request could not be read: a parameter that does not parse (a number that \
             is not one, a bad cursor), or a body that is not well-formed",
        ));
    }
    if body.is_some() {
        common.push(("408", "The body did not arrive within the body time-out"));
        common.push(("413", "The body is larger than 2 MB"));
        common.push((
            "415",
            if json {
                "The body is not sent as `Content-Type: application/json`"
            } else {
                "The body is not sent as one of the media types declared"
            },
        ));
    }
    if json {
        common.push((
            "422",
            "The body does not fit its schema (a field missing or of the wrong type), or a \
             field is not valid (the message names it)",
        ));
    }
    if path.starts_with("/api/v1/leads/{id}") {
        common.push(("404", "No such lead, or not one the caller may see"));
    }
    common.push((
        "429",
        "Too many requests with this token, or too many failed authentications from this \
         address: retry after `Retry-After` seconds",
    ));
    common.push((
        "503",
        "Storage is unavailable, the request took longer than the request time-out, or too many \
         requests are under way; retry",
    ));
    let responses = &mut operation.responses.responses;
    for (status, description) in common {
        responses
            .entry(status.into())
            .or_insert_with(|| error_response(description).into());
    }
}

fn is_error(status: &str) -> bool {
    status.starts_with('4') || status.starts_with('5')
}

fn error_content() -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Error")))
        .build()
}

/// An error answer with the `Error` body.
pub fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", error_content())
        .build()
}
