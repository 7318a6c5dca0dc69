//! Configurable limits of the HTTP layer, as a client meets them.

use crate::helpers::{TestResult, spawn_app, spawn_app_with};

/// `GET /status` with `count` header lines in all (Host and Connection included).
fn status_with_headers(count: usize) -> Vec<(String, String)> {
    (0..count.saturating_sub(2))
        .map(|i| (format!("X-Extra-{i}"), "v".to_owned()))
        .collect()
}

async fn status_code(app: &crate::helpers::TestApp, header_lines: usize) -> std::io::Result<u16> {
    let headers = status_with_headers(header_lines);
    let borrowed: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    Ok(app.request("GET", "/status", &borrowed, b"").await?.status)
}

/// The default leaves room for the 200 header lines the original accepts; `--max-headers`
/// lowers it (100 is hyper's fast path), and one line more gets 431.
#[tokio::test]
async fn max_headers_is_the_default_256_or_the_configured_count() -> TestResult {
    let default = spawn_app(false).await;
    assert_eq!(status_code(&default, 200).await?, 200);
    assert_eq!(status_code(&default, 256).await?, 200);
    assert_eq!(status_code(&default, 257).await?, 431);

    let fast = spawn_app_with(false, &["--max-headers", "100"]).await;
    assert_eq!(status_code(&fast, 100).await?, 200);
    assert_eq!(status_code(&fast, 101).await?, 431);
    // Other connections are served as usual.
    assert_eq!(status_code(&fast, 2).await?, 200);

    let strict = spawn_app_with(false, &["--max-headers", "10"]).await;
    assert_eq!(status_code(&strict, 10).await?, 200);
    assert_eq!(status_code(&strict, 11).await?, 431);
    Ok(())
}
