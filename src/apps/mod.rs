//! What a connection is routed to: [`guide`], the guide's endpoints; with `--inspect` the
//! [`inspector`] under `/_duplex/`; with `--probes` the client [`probes`] under `/probe/`; on
//! the TLS probe ports (`--tls-probes`) `/tls/clienthello` (`tls_probes`). [`Site`] puts them
//! on one server.

pub mod fuzzingserver;
pub mod guide;
pub(crate) mod inspector;
pub(crate) mod probes;
pub(crate) mod tls_probes;

use std::future::Future;
use std::sync::Arc;

use http::{Request, Response};

use crate::server::raw::RawConnection;
use crate::server::{Answer, Body, Exchange, Handler};
use guide::App;
use probes::Probes;

/// Everything one server answers.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    /// The guide, with the inspector inside when it is on.
    pub(crate) guide: App,
    /// The client probes under `/probe/` (`--probes`).
    pub(crate) probes: Option<Arc<Probes>>,
}

impl Handler for Site {
    fn answer_now(
        &self,
        request: Request<hyper::body::Incoming>,
        exchange: &Exchange<'_>,
    ) -> Answer {
        self.guide.answer_now(request, exchange)
    }

    fn handle(
        &self,
        request: Request<hyper::body::Incoming>,
        exchange: &Exchange<'_>,
    ) -> impl Future<Output = Response<Body>> + Send {
        // The guide's future itself, with no layer around it: hyper moves every request's
        // future around, and a wrapper (even an `Either`) cost about 200 instructions per
        // request in callgrind.
        Handler::handle(&self.guide, request, exchange)
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
