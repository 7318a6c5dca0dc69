//! The guide's `test_http.py`, over HTTPS (verifying the generated certificate) and plain HTTP.

use serde_json::json;

use crate::helpers::{TestResult, spawn_app};

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
    let response = app.get("/").await?;
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), json!({"message": "Server is running"}));
    Ok(())
}

async fn read_status(tls: bool) -> TestResult {
    let app = spawn_app(tls).await;
    let response = app.get("/status").await?;
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), json!({"status": "ok"}));
    Ok(())
}

async fn read_file(tls: bool) -> TestResult {
    let app = spawn_app(tls).await;
    let response = app.get("/static/data.txt").await?;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), std::fs::read_to_string(app.data_file())?);
    Ok(())
}

async fn get_item_found(tls: bool) -> TestResult {
    let app = spawn_app(tls).await;
    let response = app.get("/items/1").await?;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.json(),
        json!({"item_id": 1, "name": "The One Item"})
    );
    Ok(())
}

async fn get_item_not_found(tls: bool) -> TestResult {
    let app = spawn_app(tls).await;
    let response = app.get("/items/999").await?;
    assert_eq!(response.status, 404);
    assert_eq!(
        response.json(),
        json!({"detail": "Item with ID 999 not found."})
    );
    Ok(())
}

async fn create_item_success(tls: bool) -> TestResult {
    let app = spawn_app(tls).await;
    let response = app
        .post_json("/items", r#"{"name": "Test Item", "is_offer": true}"#)
        .await?;
    assert_eq!(response.status, 201);
    let data = response.json();
    assert_eq!(data["message"], "Item created successfully");
    assert_eq!(data["item_data"]["name"], "Test Item");
    assert_eq!(data["item_data"]["is_offer"], true);
    Ok(())
}

async fn create_item_validation_error_missing_field(tls: bool) -> TestResult {
    let app = spawn_app(tls).await;
    let response = app.post_json("/items", r#"{"is_offer": false}"#).await?;
    assert_eq!(response.status, 422);
    Ok(())
}

async fn create_item_validation_error_wrong_type(tls: bool) -> TestResult {
    let app = spawn_app(tls).await;
    let response = app
        .post_json("/items", r#"{"name": 123, "is_offer": false}"#)
        .await?;
    assert_eq!(response.status, 422);
    Ok(())
}
