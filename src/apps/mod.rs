//! What a connection is routed to: [`guide`], the guide's endpoints, and with `--inspect` the
//! [`inspector`] under `/_duplex/`. [`Site`] puts them on one server.

pub mod guide;
pub(crate) mod inspector;

use std::sync::Arc;

use http::{Request, Response};

use crate::server::{Body, Exchange, Handler};
use guide::App;
use inspector::Inspector;

/// Everything one server answers.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    pub(crate) guide: App,
    pub(crate) inspector: Option<Arc<Inspector>>,
}

impl Handler for Site {
    async fn handle(
        &self,
        request: Request<hyper::body::Incoming>,
        exchange: &Exchange<'_>,
    ) -> Response<Body> {
        if let Some(inspector) = &self.inspector
            && Inspector::claims(request.uri().path())
        {
            return inspector.respond(request, exchange);
        }
        self.guide.handle(request, exchange).await
    }
}
