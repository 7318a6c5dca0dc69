//! What a connection is routed to: [`guide`], the guide's endpoints; with `--inspect` the
//! [`inspector`] under `/_duplex/`; with `--probes` the client [`probes`] under `/probe/`; on
//! the TLS probe ports (`--tls-probes`) `/tls/clienthello` (`tls_probes`). [`Site`] puts them
//! on one server.

pub mod guide;
pub(crate) mod inspector;
pub(crate) mod probes;
pub(crate) mod tls_probes;

use std::future::Future;
use std::sync::Arc;

use http::{Request, Response};
use tokio_util::either::Either;

use crate::server::raw::RawConnection;
use crate::server::{Body, Exchange, Handler};
use guide::App;
use inspector::Inspector;
use probes::Probes;

/// Everything one server answers.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    pub(crate) guide: App,
    pub(crate) inspector: Option<Arc<Inspector>>,
    /// The client probes under `/probe/` (`--probes`).
    pub(crate) probes: Option<Arc<Probes>>,
}

impl Handler for Site {
    fn handle(
        &self,
        request: Request<hyper::body::Incoming>,
        exchange: &Exchange<'_>,
    ) -> impl Future<Output = Response<Body>> + Send {
        // No extra layer of future around the guide's: every request pays for one.
        if let Some(inspector) = &self.inspector
            && Inspector::claims(request.uri().path())
        {
            return Either::Left(std::future::ready(inspector.respond(request, exchange)));
        }
        if let Some(probe) = exchange.tls_probe
            && request.uri().path() == tls_probes::PATH
        {
            let answer = tls_probes::client_hello(probe, request.method());
            return Either::Left(std::future::ready(answer));
        }
        Either::Right(self.guide.handle(request, exchange))
    }

    fn raw_prefix(&self) -> Option<&'static str> {
        self.probes.as_ref().map(|_| probes::PREFIX)
    }

    async fn run_raw(&self, connection: RawConnection) {
        if let Some(probes) = &self.probes {
            probes.run(connection).await;
        }
    }
}
