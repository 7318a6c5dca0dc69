//! The guide's `test_http.py` through `duplex::client`, over HTTPS (verifying the generated
//! certificate) and plain HTTP.

use duplex::client::http::{Outgoing, Response};
use serde_json::json;

use crate::helpers::{TestApp, TestResult, spawn_app};

async fn get(app: &TestApp, path: &str) -> Result<Response, duplex::client::ClientError> {
    app.send(path, Outgoing::get()).await
}

async fn post_json(
    app: &TestApp,
    path: &str,
    json: &str,
) -> Result<Response, duplex::client::ClientError> {
    app.send(path, Outgoing::post_json(json.to_owned())).await
}

fn json(response: &Response) -> serde_json::Value {
    serde_json::from_slice(&response.body).unwrap_or(serde_json::Value::Null)
}

/// Each guide test runs once over TLS and once over plain HTTP.
macro_rules! both_transports {
    ($($name:ident),* $(,)?) => {
        mod over_tls {
            $(#[tokio::test]
            async fn $name() -> crate::helpers::TestResult { super::$name(true).await })*
        }
        mod over_plain_http {
            $(#[tokio::test]
            async fn $name() -> crate::helpers::TestResult { super::$name(false).await })*
        }
    };
}

both_transports!(
    read_root,
    read_status,
    read_file,
    read_file_after_each_change,
    get_item_found,
    get_item_not_found,
    create_item_success,
    create_item_validation_error_missing_field,
    create_item_validation_error_wrong_type,
);

async fn read_root(tls: bool) -> TestResult {
    let app = spawn_app(tls).await;
    let response = get(&app, "/").await?;
    assert_eq!(response.status.as_u16(), 200);
    assert_eq!(json(&response), json!({"message": "Server is running"}));
    Ok(())
}

async fn read_status(tls: bool) -> TestResult {
    let app = spawn_app(tls).await;
    let response = get(&app, "/status").await?;
    assert_eq!(response.status.as_u16(), 200);
    assert_eq!(json(&response), json!({"status": "ok"}));
    Ok(())
}

async fn read_file(tls: bool) -> TestResult {
    let app = spawn_app(tls).await;
    let response = get(&app, "/static/data.txt").await?;
    assert_eq!(response.status.as_u16(), 200);
    assert_eq!(response.body, std::fs::read(app.data_file())?);
    Ok(())
}

/// The served file follows the file on disk from one request to the next: an edit of the same
/// size, a longer one, a replacement by rename (the server caches the file between them).
async fn read_file_after_each_change(tls: bool) -> TestResult {
    let app = spawn_app(tls).await;
    let file = app.data_file();
    let first = get(&app, "/static/data.txt").await?;
    assert_eq!(first.body, std::fs::read(&file)?);
    assert_eq!(get(&app, "/static/data.txt").await?.body, first.body);
    let same_size = vec![b'x'; first.body.len()];
    std::fs::write(&file, &same_size)?;
    assert_eq!(get(&app, "/static/data.txt").await?.body, same_size);
    std::fs::write(&file, "a longer edit of the data file, made on disk")?;
    let longer = get(&app, "/static/data.txt").await?;
    assert_eq!(longer.body, "a longer edit of the data file, made on disk");
    let new = app.static_dir.join("data.txt.new");
    std::fs::write(&new, "replaced by rename")?;
    std::fs::rename(&new, &file)?;
    assert_eq!(
        get(&app, "/static/data.txt").await?.body,
        "replaced by rename"
    );
    Ok(())
}

async fn get_item_found(tls: bool) -> TestResult {
    let app = spawn_app(tls).await;
    let response = get(&app, "/items/1").await?;
    assert_eq!(response.status.as_u16(), 200);
    assert_eq!(
        json(&response),
        json!({"item_id": 1, "name": "The One Item"})
    );
    Ok(())
}

async fn get_item_not_found(tls: bool) -> TestResult {
    let app = spawn_app(tls).await;
    let response = get(&app, "/items/999").await?;
    assert_eq!(response.status.as_u16(), 404);
    assert_eq!(
        json(&response),
        json!({"detail": "Item with ID 999 not found."})
    );
    Ok(())
}

async fn create_item_success(tls: bool) -> TestResult {
    let app = spawn_app(tls).await;
    let response = post_json(&app, "/items", r#"{"name": "Test Item", "is_offer": true}"#).await?;
    assert_eq!(response.status.as_u16(), 201);
    let data = json(&response);
    assert_eq!(data["message"], "Item created successfully");
    assert_eq!(data["item_data"]["name"], "Test Item");
    assert_eq!(data["item_data"]["is_offer"], true);
    Ok(())
}

async fn create_item_validation_error_missing_field(tls: bool) -> TestResult {
    let app = spawn_app(tls).await;
    let response = post_json(&app, "/items", r#"{"is_offer": false}"#).await?;
    assert_eq!(response.status.as_u16(), 422);
    Ok(())
}

async fn create_item_validation_error_wrong_type(tls: bool) -> TestResult {
    let app = spawn_app(tls).await;
    let response = post_json(&app, "/items", r#"{"name": 123, "is_offer": false}"#).await?;
    assert_eq!(response.status.as_u16(), 422);
    Ok(())
}
