//! The guard of `/v1/app/*`: the network policy of R18 ([`crate::netpolicy`]), then the
//! per-address limit ([`crate::limits`]), in front of the app's handlers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::netpolicy::ClientAddr;
use crate::state::AppState;

fn network_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "network_not_allowed",
        "adding or removing a token is not accepted from this network (R18)",
    )
}

/// The guard of `/v1/app/*`: the network policy (R18), then the per-address limit.
pub async fn guard_app(State(s): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let client = peer.and_then(|p| s.net.client_addr(p, req.headers()));
    let allowed = match client {
        Some(ip) => s.net.app_allowed(ip),
        // Only an open policy lets in a client it cannot place.
        None => s.net.allows_everything(),
    };
    if !allowed {
        tracing::info!(
            client = %client.map_or_else(|| "unknown".to_owned(), |c| c.to_string()),
            "provisioning refused: the client's network is not allowed (R18)"
        );
        return network_refused().into_response();
    }
    // Clients that cannot be placed share one bucket.
    let key = client.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if let Err(limited) = s.limits.app_request(key) {
        tracing::info!(client = %key, "provisioning refused: over the per-address limit");
        return ApiError::from(limited).into_response();
    }
    req.extensions_mut().insert(ClientAddr(key));
    next.run(req).await
}
