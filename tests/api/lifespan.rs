//! The data file exists exactly while the server runs.

use crate::helpers::{TestResult, spawn_app};

#[tokio::test]
async fn data_file_exists_while_serving_and_is_removed_on_graceful_stop() -> TestResult {
    let app = spawn_app(false).await;
    let (file, dir) = (app.data_file(), app.static_dir.clone());
    assert_eq!(
        std::fs::read_to_string(&file)?,
        duplex::apps::guide::lifespan::DATA_FILE_CONTENTS
    );
    app.stop().await?;
    assert!(!file.exists(), "data.txt survived shutdown");
    assert!(
        !dir.exists(),
        "the static directory we created survived shutdown"
    );
    Ok(())
}

#[tokio::test]
async fn in_flight_request_finishes_during_graceful_stop() -> TestResult {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app(false).await;
    let mut io = app.connect().await?;
    io.write_all(
        b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Expect: 100-continue\r\nContent-Length: 12\r\n\r\n",
    )
    .await?;
    // hyper sends 100 Continue only once the handler reads the body: the request is in flight.
    let interim = crate::helpers::read_responses(&mut io, 1, false).await?;
    assert_eq!(interim.first().map(|r| r.status), Some(100));

    let stopping = tokio::spawn(app.stop());
    io.write_all(b"{\"name\":\"x\"}").await?;
    let responses = crate::helpers::read_responses(&mut io, 1, false).await?;
    assert_eq!(responses.first().map(|r| r.status), Some(201));
    stopping.await??;
    Ok(())
}
