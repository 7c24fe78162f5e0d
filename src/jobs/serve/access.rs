//! Who may drive the server (the security model, documented in the README):
//!
//! - **Host**: a request must name this server: `localhost`, the address it listens on (any
//!   IP address when it listens on all of them), or a name given with `--allow-host`. A page
//!   that points its own name at 127.0.0.1 (DNS rebinding) names itself: refused.
//! - **Origin**: a request that changes something (POST, DELETE) from a browser carries its
//!   page's origin; it must be this server's own. Other sites' pages are refused (403), so
//!   they cannot queue or cancel jobs; clients that are not browsers send no Origin.
//! - **Token**: with `--token` (required, and generated when not given, on an address that is
//!   not loopback) every API request must carry it: `Authorization: Bearer TOKEN`, or the
//!   cookie the page gets by opening `/?token=TOKEN` once (SameSite=Strict: never sent by
//!   another site's page).
//! - **CORS**: one other page may call from a browser when named with `--cors-origin` (an
//!   IOPaint web app served elsewhere); preflights from any other origin get 403.
//! - **Job ids** are unguessable tokens (`jobs::random_token`): results and cancelling are
//!   for whoever created the job; only `DELETE` cancels.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api::ApiError;

pub struct Access {
    /// The token every API request must carry, if any.
    pub token: Option<String>,
    /// Host names allowed besides localhost and IP addresses (lowercase).
    pub hosts: Vec<String>,
    /// The address listened on.
    pub bound: IpAddr,
    /// The cookie that carries the token (named after the port: cookies ignore ports).
    pub cookie: String,
    /// One other page's origin allowed to call from a browser (`--cors-origin`).
    pub cors_origin: Option<String>,
}

/// Headers a CORS caller may send and read.
const CORS_ALLOW_HEADERS: &str = "content-type, authorization";
const CORS_EXPOSE_HEADERS: &str = "x-seed, x-ignored-fields, x-warnings";

/// The page's own files, served without the token (they hold no data; the page asks for it).
const PUBLIC: [&str; 5] = ["/", "/app.js", "/style.css", "/lab", "/lab.js"];

impl Access {
    pub fn new(token: Option<String>, hosts: &[String], bound: IpAddr, port: u16) -> Access {
        let hosts = hosts.iter().map(|h| h.trim_end_matches('.').to_ascii_lowercase()).collect();
        Access { token, hosts, bound, cookie: format!("dcgan_inpaint_token_{port}"), cors_origin: None }
    }

    pub fn with_cors(self, origin: Option<String>) -> Access {
        Access { cors_origin: origin, ..self }
    }

    fn cors_allows(&self, origin: &str) -> bool {
        self.cors_origin.as_deref().is_some_and(|o| o.eq_ignore_ascii_case(origin))
    }

    /// The host part of a Host header (without the port; IPv6 without brackets), lowercase.
    fn host_name(host: &str) -> String {
        let host = host.trim();
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(""),
            None => host.rsplit_once(':').filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit())).map_or(host, |(name, _)| name),
        };
        name.trim_end_matches('.').to_ascii_lowercase()
    }

    fn host_allowed(&self, host: &str) -> bool {
        let name = Self::host_name(host);
        if name == "localhost" || self.hosts.contains(&name) {
            return true;
        }
        match name.parse::<IpAddr>() {
            Ok(ip) => self.bound.is_unspecified() || ip == self.bound || (self.bound.is_loopback() && ip.is_loopback()),
            Err(_) => false,
        }
    }

    fn token_matches(&self, given: &str) -> bool {
        // Constant time, so the comparison does not tell how much of a guess was right.
        self.token.as_ref().is_some_and(|t| t.len() == given.len() && t.bytes().zip(given.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0)
    }

    fn request_token<'a>(&self, req: &'a Request) -> Option<&'a str> {
        let headers = req.headers();
        if let Some(bearer) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) {
            return Some(bearer.trim());
        }
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.cookie)
            .map(|(_, value)| value)
    }
}

fn forbidden(message: String) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, message).into_response()
}

/// The middleware in front of every route.
pub async fn guard(State(access): State<Arc<Access>>, req: Request, next: Next) -> Response {
    let Some(host) = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_string) else {
        return ApiError::new(StatusCode::BAD_REQUEST, "the request has no Host header").into_response();
    };
    if !access.host_allowed(&host) {
        return forbidden(format!(
            "this server does not answer to the host name '{host}' (protection against DNS rebinding): open it as localhost or by its IP address, or start it with --allow-host {}",
            Access::host_name(&host)
        ));
    }
    let origin = req.headers().get(header::ORIGIN).map(|o| o.to_str().unwrap_or("").to_string());
    let cors = origin.as_deref().filter(|o| access.cors_allows(o)).map(str::to_string);
    // A CORS preflight: answered for the allowed origin, refused for any other.
    if *req.method() == Method::OPTIONS {
        return match &cors {
            Some(o) => (
                StatusCode::NO_CONTENT,
                [
                    (header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone()),
                    (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, DELETE".to_string()),
                    (header::ACCESS_CONTROL_ALLOW_HEADERS, CORS_ALLOW_HEADERS.to_string()),
                    (header::ACCESS_CONTROL_MAX_AGE, "600".to_string()),
                    (header::VARY, "Origin".to_string()),
                ],
            )
                .into_response(),
            None => forbidden("cross-origin calls are refused: only the page given with --cors-origin may make them".into()),
        };
    }
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD);
    if changes_state && let Some(origin) = &origin {
        let own = format!("http://{host}");
        if !origin.eq_ignore_ascii_case(&own) && cors.is_none() {
            return forbidden(format!("requests from another site's page ({origin}) are refused: only this server's own page ({own}), the origin given with --cors-origin, and clients that send no Origin may change anything"));
        }
    }
    if access.token.is_some() {
        let path = req.uri().path();
        // `/?token=...` once: the page keeps the token in a cookie and leaves the URL.
        if path == "/"
            && let Some(given) = req.uri().query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")))
        {
            if !access.token_matches(given) {
                return ApiError::new(StatusCode::UNAUTHORIZED, "wrong token: open the URL the server printed").into_response();
            }
            let cookie = format!("{}={given}; Path=/; HttpOnly; SameSite=Strict", access.cookie);
            return (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, "/".to_string())]).into_response();
        }
        if !PUBLIC.contains(&path) && !access.request_token(&req).is_some_and(|t| access.token_matches(t)) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this server needs its access token: open the URL it printed (with ?token=...), or send the header 'Authorization: Bearer TOKEN'",
            )
            .into_response();
        }
    }
    let mut response = next.run(req).await;
    if let Some(o) = cors {
        let headers = response.headers_mut();
        if let Ok(value) = o.parse() {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        }
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, axum::http::HeaderValue::from_static(CORS_EXPOSE_HEADERS));
        headers.insert(header::VARY, axum::http::HeaderValue::from_static("Origin"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::Access;

    #[test]
    fn host_names_and_addresses() {
        let local = Access::new(None, &["pc.lan".into()], "127.0.0.1".parse().unwrap(), 8080);
        for ok in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST", "127.0.0.2:1", "[::1]:8080", "pc.lan:8080", "localhost."] {
            assert!(local.host_allowed(ok), "{ok}");
        }
        for bad in ["attacker.example", "attacker.example:8080", "127.0.0.1.attacker.example", "10.0.0.5:8080", "", "localhost.attacker"] {
            assert!(!local.host_allowed(bad), "{bad}");
        }
        let all = Access::new(Some("t".into()), &[], "0.0.0.0".parse().unwrap(), 8080);
        assert!(all.host_allowed("10.0.0.5:8080") && all.host_allowed("[fe80::1]:80"));
        assert!(!all.host_allowed("attacker.example"));
    }

    #[test]
    fn tokens_compare_whole() {
        let a = Access::new(Some("abc123".into()), &[], "127.0.0.1".parse().unwrap(), 1);
        assert!(a.token_matches("abc123"));
        for bad in ["abc12", "abc1234", "", "ABC123"] {
            assert!(!a.token_matches(bad), "{bad}");
        }
    }
}
