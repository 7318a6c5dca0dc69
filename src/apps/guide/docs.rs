//! `/openapi.json`, `/docs`, `/docs/oauth2-redirect` and `/redoc`: the original's pages, with
//! their CDN assets served by duplex itself so they work offline. Swagger UI comes from the
//! `utoipa-swagger-ui-vendored` crate (the Swagger UI release archive, read once on first use);
//! ReDoc, which no crate vendors, from `vendor/redoc/` (see its README).

use std::io::Read as _;
use std::sync::OnceLock;

use bytes::Bytes;
use http::header::CACHE_CONTROL;
use http::{HeaderValue, Response, StatusCode};

use crate::server::Body;
use crate::server::response::{self, APPLICATION_JSON, TEXT_HTML};

const OPENAPI: &[u8] = include_bytes!("docs/openapi.json");
const SWAGGER_UI: &[u8] = include_bytes!("docs/docs.html");
const OAUTH2_REDIRECT: &[u8] = include_bytes!("docs/docs_oauth2_redirect.html");
const REDOC: &[u8] = include_bytes!("docs/redoc.html");
const REDOC_BUNDLE: &[u8] = include_bytes!("../../../vendor/redoc/redoc.standalone.js");

/// One of the documentation routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Page {
    OpenApi,
    SwaggerUi,
    OAuth2Redirect,
    Redoc,
    Asset(Asset),
}

/// A file the documentation pages load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asset {
    SwaggerBundle,
    SwaggerCss,
    Favicon,
    RedocBundle,
}

impl Asset {
    /// The asset at `path`, if any.
    pub(crate) fn resolve(path: &str) -> Option<Self> {
        Some(match path {
            "/docs/assets/swagger-ui-bundle.js" => Self::SwaggerBundle,
            "/docs/assets/swagger-ui.css" => Self::SwaggerCss,
            "/docs/assets/favicon.png" => Self::Favicon,
            "/redoc/assets/redoc.standalone.js" => Self::RedocBundle,
            _ => return None,
        })
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::SwaggerBundle | Self::RedocBundle => "text/javascript; charset=utf-8",
            Self::SwaggerCss => "text/css; charset=utf-8",
            Self::Favicon => "image/png",
        }
    }
}

pub(crate) fn respond(page: Page) -> Response<Body> {
    let (content_type, body) = match page {
        Page::OpenApi => (APPLICATION_JSON, OPENAPI),
        Page::SwaggerUi => (TEXT_HTML, SWAGGER_UI),
        Page::OAuth2Redirect => (TEXT_HTML, OAUTH2_REDIRECT),
        Page::Redoc => (TEXT_HTML, REDOC),
        Page::Asset(asset) => return asset_response(asset),
    };
    response::full(StatusCode::OK, content_type, Bytes::from_static(body))
}

fn asset_response(asset: Asset) -> Response<Body> {
    let bytes = match asset {
        Asset::RedocBundle => Bytes::from_static(REDOC_BUNDLE),
        swagger => match swagger_assets() {
            Ok(files) => match swagger {
                Asset::SwaggerBundle => files.bundle.clone(),
                Asset::SwaggerCss => files.css.clone(),
                _ => files.favicon.clone(),
            },
            Err(err) => {
                tracing::error!(error = %err, "cannot read the vendored Swagger UI");
                return response::detail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The vendored Swagger UI cannot be read",
                );
            }
        },
    };
    let mut answer = response::full(
        StatusCode::OK,
        HeaderValue::from_static(asset.content_type()),
        bytes,
    );
    // The files change only with duplex itself.
    answer.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    answer
}

/// The Swagger UI files the page loads, out of the release archive.
#[derive(Debug)]
struct SwaggerAssets {
    bundle: Bytes,
    css: Bytes,
    favicon: Bytes,
}

/// Read from the archive once, on first use (about 1.7 MB, a few milliseconds).
fn swagger_assets() -> Result<&'static SwaggerAssets, &'static str> {
    static ASSETS: OnceLock<Result<SwaggerAssets, String>> = OnceLock::new();
    ASSETS
        .get_or_init(|| read_swagger_assets(utoipa_swagger_ui_vendored::SWAGGER_UI_VENDORED))
        .as_ref()
        .map_err(String::as_str)
}

fn read_swagger_assets(archive: &[u8]) -> Result<SwaggerAssets, String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive))
        .map_err(|err| format!("not a zip archive: {err}"))?;
    let mut file = |name: &str| -> Result<Bytes, String> {
        // The archive's top folder is `swagger-ui-<version>/`.
        let index = (0..zip.len())
            .find(|&i| {
                zip.name_for_index(i).is_some_and(|entry| {
                    entry.is_ok_and(|entry| entry.ends_with(&format!("/dist/{name}")))
                })
            })
            .ok_or_else(|| format!("no dist/{name} in the archive"))?;
        let mut entry = zip
            .by_index(index)
            .map_err(|err| format!("dist/{name}: {err}"))?;
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|err| format!("dist/{name}: {err}"))?;
        Ok(Bytes::from(bytes))
    };
    Ok(SwaggerAssets {
        bundle: file("swagger-ui-bundle.js")?,
        css: file("swagger-ui.css")?,
        favicon: file("favicon-32x32.png")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_load_nothing_from_the_network() {
        for page in [SWAGGER_UI, OAUTH2_REDIRECT, REDOC] {
            let html = String::from_utf8_lossy(page);
            assert!(
                !html.contains("http://") && !html.contains("https://"),
                "{html}"
            );
        }
    }

    #[test]
    fn every_asset_a_page_names_is_served() -> Result<(), String> {
        let assets = swagger_assets()?;
        assert!(assets.bundle.len() > 1_000_000 && assets.css.len() > 100_000);
        assert!(assets.favicon.starts_with(b"\x89PNG"));
        for page in [SWAGGER_UI, REDOC] {
            let html = String::from_utf8_lossy(page);
            for link in html.split(['"', '\'']).filter(|s| s.contains("/assets/")) {
                let asset = Asset::resolve(link).ok_or(format!("{link} is not served"))?;
                assert_eq!(
                    respond(Page::Asset(asset)).status(),
                    StatusCode::OK,
                    "{link}"
                );
            }
        }
        assert!(REDOC_BUNDLE.starts_with(b"/*!") || REDOC_BUNDLE.len() > 1_000_000);
        Ok(())
    }
}
