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
