//! What a connection is routed to: [`guide`], the guide's endpoints, with `--inspect` the
//! [`inspector`] under `/_duplex/`, and on the TLS probe ports `/tls/clienthello`
//! (`tls_probes`). [`Site`] puts them on one server.

pub mod guide;
pub(crate) mod inspector;
pub(crate) mod tls_probes;

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
        if let Some(probe) = exchange.probe
            && request.uri().path() == tls_probes::PATH
        {
            return tls_probes::client_hello(probe, request.method());
        }
        self.guide.handle(request, exchange).await
    }
}
