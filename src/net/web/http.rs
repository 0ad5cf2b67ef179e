//! HTTP/1.1 requests on the chat port, parsed with `httparse`: the request
//! head only (a browser's `GET` of the page, its assets, or the WebSocket
//! upgrade), bounded in size, and the plain responses the server sends
//! (`Connection: close`: one request per connection, so nothing lingers).

/// Most bytes a request head may take (request line and headers).
pub const MAX_HEAD: usize = 8 * 1024;
/// Most headers a request may carry.
const MAX_HEADERS: usize = 48;

/// What a request asked for, as far as the server cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    /// The path without its query string (still percent-encoded).
    pub path: String,
    /// The query string, after `?`.
    pub query: Option<String>,
    /// The `Range` header.
    pub range: Option<String>,
    pub host: Option<String>,
    pub origin: Option<String>,
    /// `Upgrade: websocket` with `Connection: upgrade`.
    pub websocket: bool,
    pub ws_key: Option<String>,
    pub ws_version: Option<String>,
}

/// Why a request head could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// Not HTTP, or malformed.
    Bad(String),
    /// Longer than [`MAX_HEAD`] (or more than the headers allowed).
    TooLarge,
}

/// Parse a request head from `buf`: `Ok(None)` until it is complete; then
/// the head and the bytes it took.
pub fn parse(buf: &[u8]) -> Result<Option<(Head, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let used = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(e) => return Err(HeadError::Bad(e.to_string())),
    };
    if used > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(|v| v.trim().to_string())
    };
    let has_token = |name: &str, token: &str| {
        header(name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    let target = req.path.unwrap_or("/");
    let target = target.split('#').next().unwrap_or("/");
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    Ok(Some((
        Head {
            method: req.method.unwrap_or("").to_string(),
            path,
            query,
            range: header("range"),
            host: header("host"),
            origin: header("origin"),
            websocket: has_token("upgrade", "websocket") && has_token("connection", "upgrade"),
            ws_key: header("sec-websocket-key"),
            ws_version: header("sec-websocket-version"),
        },
        used,
    )))
}

/// The security headers every response carries.
pub const SECURITY_HEADERS: &str = "X-Content-Type-Options: nosniff\r\n\
Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; \
connect-src 'self'; img-src 'self' data:; media-src 'self' data:; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'\r\n\
Referrer-Policy: no-referrer\r\n\
X-Frame-Options: DENY\r\n";

/// A complete response: status line, headers, body.
pub fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut bytes = head(status, headers, body.len() as u64);
    bytes.extend_from_slice(body);
    bytes
}

/// A response head for a body of `length` bytes that follows separately.
pub fn head(status: &str, headers: &[(&str, &str)], length: u64) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push_str("\r\n");
    }
    out.push_str(SECURITY_HEADERS);
    out.push_str(&format!(
        "Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ));
    out.into_bytes()
}

/// A short plain-text error response saying what went wrong.
pub fn error(status: &str, sentence: &str) -> Vec<u8> {
    error_with(status, &[], sentence)
}

/// [`error`] with headers of its own (`Allow`, `Sec-WebSocket-Version`).
pub fn error_with(status: &str, headers: &[(&str, &str)], sentence: &str) -> Vec<u8> {
    let mut all = vec![
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Cache-Control", "no-store"),
    ];
    all.extend_from_slice(headers);
    response(status, &all, format!("{sentence}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_websocket_upgrade_is_read_with_its_headers() {
        let req = b"GET /ws?x=1 HTTP/1.1\r\nHost: chat.lan:5555\r\nUpgrade: websocket\r\n\
Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\nOrigin: http://chat.lan:5555\r\n\r\nrest";
        let (head, used) = parse(req).unwrap().unwrap();
        assert_eq!(used, req.len() - 4);
        assert_eq!(head.path, "/ws");
        assert!(head.websocket);
        assert_eq!(head.host.as_deref(), Some("chat.lan:5555"));
        assert_eq!(head.origin.as_deref(), Some("http://chat.lan:5555"));
        assert_eq!(head.ws_version.as_deref(), Some("13"));
    }

    #[test]
    fn partial_heads_wait_and_oversized_or_broken_ones_are_refused() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: a"), Ok(None));
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEAD));
        assert_eq!(parse(&big), Err(HeadError::TooLarge));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..100 {
            many.extend(format!("X{i}: y\r\n").bytes());
        }
        many.extend(b"\r\n");
        assert_eq!(parse(&many), Err(HeadError::TooLarge));
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"),
            Err(HeadError::Bad(_))
        ));
    }

    #[test]
    fn responses_carry_the_security_headers_and_a_length() {
        let r = String::from_utf8(response("200 OK", &[("Content-Type", "text/plain")], b"hi"))
            .unwrap();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(r.contains("X-Content-Type-Options: nosniff\r\n"));
        assert!(r.contains("Content-Security-Policy: default-src 'none'; script-src 'self'"));
        assert!(r.contains("Content-Length: 2\r\n"));
        assert!(r.ends_with("\r\n\r\nhi"));
    }
}
