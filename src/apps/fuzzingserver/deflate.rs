//! permessage-deflate for 12.* and 13.*, answered the way Autobahn's fuzzingserver answers:
//! its own offer parsing (`PerMessageDeflateOffer.parse`) and the seven server policies of
//! `case12_x_x.py` (`accept1`…`accept7`), producing a duplex [`Agreement`] so that duplex's
//! codec compresses and inflates.

use super::catalogue::Accept;
use crate::protocol::ws::Agreement;

/// One permessage-deflate offer, in Autobahn's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Offer {
    /// The client may be asked for a smaller window (`client_max_window_bits` offered).
    accept_max_window_bits: bool,
    /// The client asks the server not to keep its context (`server_no_context_takeover`).
    request_no_context_takeover: bool,
    /// The client asks for this server window (0: no request).
    request_max_window_bits: u8,
}

/// The permessage-deflate offers in `Sec-WebSocket-Extensions` values, in order; offers
/// Autobahn would refuse to parse (unknown or repeated parameters, bad values) are skipped.
pub(crate) fn parse_offers<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Offer> {
    let mut offers = Vec::new();
    for value in values {
        for extension in value.split(',') {
            let mut parts = extension.split(';');
            if parts.next().map(str::trim) != Some("permessage-deflate") {
                continue;
            }
            if let Some(offer) = parse_offer(parts) {
                offers.push(offer);
            }
        }
    }
    offers
}

fn parse_offer<'a>(params: impl Iterator<Item = &'a str>) -> Option<Offer> {
    let mut offer = Offer {
        accept_max_window_bits: false,
        request_no_context_takeover: false,
        request_max_window_bits: 0,
    };
    let mut seen = Vec::new();
    for param in params {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (param.trim(), None),
        };
        if seen.contains(&name) {
            return None;
        }
        seen.push(name);
        let bits = |value: Option<&str>| {
            value
                .and_then(|v| v.parse::<u8>().ok())
                .filter(|bits| (8..=15).contains(bits))
        };
        match name {
            "client_max_window_bits" => {
                if value.is_some() {
                    bits(value)?;
                }
                offer.accept_max_window_bits = true;
            }
            "client_no_context_takeover" if value.is_none() => {}
            "server_max_window_bits" => offer.request_max_window_bits = bits(value)?,
            "server_no_context_takeover" if value.is_none() => {
                offer.request_no_context_takeover = true;
            }
            _ => return None,
        }
    }
    Some(offer)
}

/// The agreement `policy` makes with the first offer it can accept, or `None`: then the case
/// is UNIMPLEMENTED for this client.
pub(crate) fn accept(policy: Accept, offers: &[Offer]) -> Option<Agreement> {
    // (request client_no_context_takeover, request client_max_window_bits, needs the client
    // to accept a window request)
    let terms: &[(bool, u8, bool)] = match policy {
        Accept::Accept1 => &[(false, 0, false)],
        Accept::Accept2 => &[(true, 0, false)],
        Accept::Accept3 => &[(false, 9, true)],
        Accept::Accept4 => &[(false, 15, true)],
        Accept::Accept5 => &[(true, 9, true)],
        Accept::Accept6 => &[(true, 15, true)],
        Accept::Accept7 => &[(true, 9, true), (true, 0, false), (false, 0, false)],
    };
    // Autobahn always lets the client accept client_no_context_takeover (its parser's
    // default), so only the window request can rule an offer out.
    terms
        .iter()
        .find_map(|&(no_context, window, needs_window)| {
            offers
                .iter()
                .find(|offer| !needs_window || offer.accept_max_window_bits)
                .map(|offer| agreement(offer, no_context, window))
        })
}

/// Autobahn's `PerMessageDeflateOfferAccept.getExtensionString` and the parameters its
/// `PerMessageDeflate` then uses.
fn agreement(offer: &Offer, client_no_context_takeover: bool, client_window: u8) -> Agreement {
    let mut response = String::from("permessage-deflate");
    if offer.request_no_context_takeover {
        response.push_str("; server_no_context_takeover");
    }
    if offer.request_max_window_bits != 0 {
        response.push_str(&format!(
            "; server_max_window_bits={}",
            offer.request_max_window_bits
        ));
    }
    if client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    if client_window != 0 {
        response.push_str(&format!("; client_max_window_bits={client_window}"));
    }
    Agreement {
        response,
        server_no_context_takeover: offer.request_no_context_takeover,
        client_no_context_takeover,
        // zlib cannot compress with a 256-byte window; 9 stays within what was asked for
        // in all but name, and what zlib itself does with 8.
        server_max_window_bits: match offer.request_max_window_bits {
            0 => 15,
            bits => bits.max(9),
        },
        client_max_window_bits: (client_window != 0).then_some(client_window),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_accepts_a_plain_offer_as_it_is() {
        let offers = parse_offers(["permessage-deflate; client_max_window_bits"]);
        let agreement = accept(Accept::Accept1, &offers);
        assert_eq!(
            agreement.map(|a| a.response),
            Some("permessage-deflate".to_owned())
        );
    }

    #[test]
    fn window_policies_need_the_client_to_allow_a_window_request() {
        let plain = parse_offers(["permessage-deflate"]);
        assert_eq!(accept(Accept::Accept3, &plain), None);
        let allowing = parse_offers(["permessage-deflate; client_max_window_bits"]);
        let agreement = accept(Accept::Accept5, &allowing);
        assert_eq!(
            agreement.map(|a| a.response),
            Some(
                "permessage-deflate; client_no_context_takeover; client_max_window_bits=9"
                    .to_owned()
            )
        );
        // accept7 falls back to (True, 0) when no window request is possible
        let agreement = accept(Accept::Accept7, &plain);
        assert_eq!(
            agreement.map(|a| a.response),
            Some("permessage-deflate; client_no_context_takeover".to_owned())
        );
    }

    #[test]
    fn server_parameters_are_echoed_and_bad_offers_skipped() {
        let offers = parse_offers([
            "permessage-deflate; foo, permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
        ]);
        assert_eq!(offers.len(), 1);
        let agreement = accept(Accept::Accept1, &offers).unwrap_or_else(|| panic!("accepted"));
        assert_eq!(
            agreement.response,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
        );
        assert!(agreement.server_no_context_takeover);
        assert_eq!(agreement.server_max_window_bits, 10);
        assert!(parse_offers(["x-webkit-deflate-frame"]).is_empty());
    }
}
