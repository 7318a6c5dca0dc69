//! `/openapi.json`, `/docs`, `/docs/oauth2-redirect` and `/redoc`, byte for byte as the original
//! serves them (the pages load Swagger UI and ReDoc from the jsdelivr CDN, like the original).

use bytes::Bytes;
use http::{Response, StatusCode};

use crate::server::Body;
use crate::server::response::{self, APPLICATION_JSON, TEXT_HTML};

const OPENAPI: &[u8] = include_bytes!("docs/openapi.json");
const SWAGGER_UI: &[u8] = include_bytes!("docs/docs.html");
const OAUTH2_REDIRECT: &[u8] = include_bytes!("docs/docs_oauth2_redirect.html");
const REDOC: &[u8] = include_bytes!("docs/redoc.html");

/// One of the documentation routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Page {
    OpenApi,
    SwaggerUi,
    OAuth2Redirect,
    Redoc,
}

pub(crate) fn respond(page: Page) -> Response<Body> {
    let (content_type, body) = match page {
        Page::OpenApi => (APPLICATION_JSON, OPENAPI),
        Page::SwaggerUi => (TEXT_HTML, SWAGGER_UI),
        Page::OAuth2Redirect => (TEXT_HTML, OAUTH2_REDIRECT),
        Page::Redoc => (TEXT_HTML, REDOC),
    };
    response::full(StatusCode::OK, content_type, Bytes::from_static(body))
}
