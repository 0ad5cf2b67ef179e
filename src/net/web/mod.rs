//! The browser side of the chat port: HTTP for the page and WebSocket for
//! the protocol, on the same address as native clients (and inside TLS on a
//! TLS port). The first plaintext byte decides: a native frame starts with
//! the high byte of its length, which is 0 for every frame under 16 MiB
//! (`--max-frame` is bounded below that), while an HTTP request starts with
//! a method name (`GET`), an upper-case letter. So no native client can be
//! taken for a browser, nor the other way round.
//!
//! An HTTP connection serves one request and closes (`Connection: close`):
//! the page (`/`), its content-hashed script and styles, or the upgrade at
//! `/ws`, whose `Origin` must be the page's own (the `Host` the browser
//! asked for) or one of `--http-origin`. From the upgrade on, the connection
//! is a chat connection like any other: its messages go through the same
//! decoders, rate limit and core; what the core sends it is re-framed as
//! WebSocket messages on the way into its write queue (see [`ws`]).

pub mod assets;
pub mod http;
pub mod ws;

use super::conn::Conn;
use crate::core::logsafe::Safe;
use crate::core::{Core, Priority};
use http::{Head, HeadError};
use std::rc::Rc;

/// What a connection speaks once its first bytes are known.
#[derive(Debug)]
pub enum Web {
    /// An HTTP request is arriving (or has been answered).
    Http,
    /// Upgraded: WebSocket messages carry protocol frames.
    Ws(Box<ws::WsConn>),
}

/// The browser side's settings and files.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Origins (`https://chat.example.org`) allowed to open the WebSocket
    /// besides the page's own.
    pub origins: Vec<String>,
    /// Serve nothing over HTTP (`--no-web`): a browser gets the native
    /// protocol's answer to garbage.
    pub off: bool,
}

/// Everything the input path needs for browsers.
#[derive(Debug)]
pub struct WebCtx {
    pub cfg: WebConfig,
    pub assets: assets::Assets,
}

/// Whether a connection's first plaintext byte starts an HTTP request.
pub fn looks_like_http(first: u8) -> bool {
    first.is_ascii_uppercase()
}

/// Whether a browser page at `origin` may open a chat socket on a server it
/// reached as `host`.
pub fn origin_allowed(origin: Option<&str>, host: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = origin else {
        return true; // not a browser: nothing to protect
    };
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
}

/// Queue raw bytes (an HTTP response, a WebSocket control frame) for `conn`.
fn push_raw(conn: &mut Conn, bytes: Vec<u8>) {
    conn.push(Rc::from(bytes), Priority::Normal, usize::MAX, usize::MAX);
}

/// Answer with `response` and close once it is out.
fn answer_and_close(conn: &mut Conn, core: &mut Core, response: Vec<u8>, why: &str) {
    push_raw(conn, response);
    conn.stop_reading = true;
    conn.rbuf.clear();
    core.close(conn.id, why.into());
}

/// Bytes of an HTTP connection that has not been upgraded: collect the
/// request head, then answer it.
pub(super) fn ingest_http(
    conn: &mut Conn,
    data: &[u8],
    core: &mut Core,
    web: &WebCtx,
    max_frame: usize,
) {
    conn.rbuf.extend_from_slice(data);
    let (head, used) = match http::parse(&conn.rbuf) {
        Ok(Some(h)) => h,
        Ok(None) => return,
        Err(HeadError::TooLarge) => {
            let r = http::error(
                "431 Request Header Fields Too Large",
                "the request head is larger than this server reads (8 KiB, 48 headers)",
            );
            return answer_and_close(conn, core, r, "http: head too large");
        }
        Err(HeadError::Bad(e)) => {
            log::debug!("conn {}: bad HTTP request: {}", conn.id, Safe(&e));
            let r = http::error(
                "400 Bad Request",
                &format!("this is not an HTTP request this server reads ({e})"),
            );
            return answer_and_close(conn, core, r, "http: bad request");
        }
    };
    let rest = conn.rbuf.split_off(used);
    conn.rbuf.clear();
    respond(conn, core, web, max_frame, head, rest);
}

fn respond(
    conn: &mut Conn,
    core: &mut Core,
    web: &WebCtx,
    max_frame: usize,
    head: Head,
    rest: Vec<u8>,
) {
    let get = head.method == "GET";
    if head.path == "/ws" {
        if !get || !head.websocket {
            let r = http::error(
                "426 Upgrade Required",
                "/ws is the chat protocol over WebSocket; open / in a browser for the page",
            );
            return answer_and_close(conn, core, r, "http: /ws without an upgrade");
        }
        if head.ws_version.as_deref() != Some("13") || head.ws_key.is_none() {
            let r = http::error_with(
                "426 Upgrade Required",
                &[("Sec-WebSocket-Version", "13")],
                "this server speaks WebSocket version 13 (RFC 6455)",
            );
            return answer_and_close(conn, core, r, "http: websocket version");
        }
        if !origin_allowed(
            head.origin.as_deref(),
            head.host.as_deref(),
            &web.cfg.origins,
        ) {
            let origin = head.origin.clone().unwrap_or_default();
            log::warn!(
                "conn {} ({}): WebSocket from a page at {} refused (not this server's origin)",
                conn.id,
                conn.peer,
                Safe(&origin)
            );
            let r = http::error(
                "403 Forbidden",
                &format!(
                    "a page at {origin} may not open a chat connection here; start chat-server with --http-origin {origin} to allow it"
                ),
            );
            return answer_and_close(conn, core, r, "http: origin refused");
        }
        let key = head.ws_key.unwrap_or_default();
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        push_raw(
            conn,
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            )
            .into_bytes(),
        );
        log::debug!("conn {}: WebSocket upgrade", conn.id);
        conn.web = Some(Web::Ws(Box::new(ws::WsConn::new(max_frame))));
        conn.rbuf = rest;
        return;
    }
    let key = head
        .query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("key="))
        .unwrap_or("")
        .to_string();
    if let Some(id) = head.path.strip_prefix("/transfers/") {
        if get {
            let grant = match id.parse::<u64>() {
                Ok(id) => core.http_transfer(conn.id, &key, id),
                Err(_) => crate::core::http_files::HttpGrant::Refuse {
                    status: "404 Not Found",
                    sentence: "a transfer is named by its number: /transfers/3".into(),
                },
            };
            let r = grant_response(conn, core, grant);
            push_raw(conn, r);
            conn.stop_reading = true;
            conn.rbuf.clear();
            return;
        }
    }
    if let Some(name) = head.path.strip_prefix("/files/") {
        if get || head.method == "HEAD" {
            let r = download(conn, core, &head, &key, name, get);
            push_raw(conn, r);
            conn.stop_reading = true;
            conn.rbuf.clear();
            return;
        }
    }
    if !get && head.method != "HEAD" {
        let r = http::error_with(
            "405 Method Not Allowed",
            &[("Allow", "GET, HEAD")],
            "only GET and HEAD are served here",
        );
        return answer_and_close(conn, core, r, "http: method");
    }
    let r = match web.assets.get(&head.path) {
        Some(a) => {
            let cache = if a.immutable {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            let mut r = http::response(
                "200 OK",
                &[("Content-Type", a.content_type), ("Cache-Control", cache)],
                &a.body,
            );
            if !get {
                r.truncate(r.len() - a.body.len());
            }
            r
        }
        None => http::error("404 Not Found", "nothing here; the chat page is at /"),
    };
    answer_and_close(conn, core, r, "http: served");
}

/// `GET /files/NAME?key=K`: the response head of a download from the shared
/// store (the core streams the body, then closes), or a refusal (the core
/// closes after it).
fn download(
    conn: &mut Conn,
    core: &mut Core,
    head: &Head,
    key: &str,
    name: &str,
    body: bool,
) -> Vec<u8> {
    use crate::core::http_files::ByteRange;
    let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
    let range = head.range.as_deref().and_then(ByteRange::parse);
    let grant = core.http_file(conn.id, key, &name, range, body);
    grant_response(conn, core, grant)
}

/// The response head for what the core granted (the body follows from the
/// core), or the refusal (the core is told to close after it).
fn grant_response(
    conn: &mut Conn,
    core: &mut Core,
    grant: crate::core::http_files::HttpGrant,
) -> Vec<u8> {
    use crate::core::http_files::HttpGrant;
    match grant {
        HttpGrant::Send {
            file,
            start,
            end,
            partial,
            ranges,
        } => {
            let disposition = format!(
                "attachment; filename*=UTF-8''{}",
                percent_encoding::utf8_percent_encode(
                    &file.name,
                    percent_encoding::NON_ALPHANUMERIC
                )
            );
            let etag = format!("\"{}\"", file.sha256);
            let content_range = format!("bytes {start}-{}/{}", end.saturating_sub(1), file.size);
            let mut headers = vec![
                ("Content-Type", "application/octet-stream"),
                ("Content-Disposition", disposition.as_str()),
                ("ETag", etag.as_str()),
                ("Cache-Control", "private, no-cache"),
            ];
            if ranges {
                headers.push(("Accept-Ranges", "bytes"));
            }
            if partial {
                headers.push(("Content-Range", content_range.as_str()));
            }
            let status = if partial {
                "206 Partial Content"
            } else {
                "200 OK"
            };
            log::info!(
                "conn {}: HTTP download of {} ({start}..{end} of {})",
                conn.id,
                Safe(&file.name),
                file.size
            );
            http::head(status, &headers, end - start)
        }
        HttpGrant::Unsatisfiable { size } => {
            core.close(conn.id, "http: range not satisfiable".into());
            let cr = format!("bytes */{size}");
            http::response(
                "416 Range Not Satisfiable",
                &[
                    ("Content-Range", cr.as_str()),
                    ("Content-Type", "text/plain; charset=utf-8"),
                ],
                b"the range asked for is past the end of the file\n",
            )
        }
        HttpGrant::Refuse { status, sentence } => {
            core.close(conn.id, "http: download refused".into());
            http::error(status, &sentence)
        }
    }
}

pub(super) use ws::WsInput;

/// Feed `conn`'s buffered input to its WebSocket and hand each message to
/// `take`, which returns `false` to stop (the message rate holds it: it is
/// kept and offered first next time); `more` says whether to go on before
/// each message. Control frames owed to the peer are queued. Returns `Err`
/// with a reason when the socket closed.
pub(super) fn ingest_ws(
    conn: &mut Conn,
    max_message: usize,
    mut take: impl FnMut(&mut Conn, WsInput<'_>) -> bool,
    mut more: impl FnMut(&Conn) -> bool,
) -> Result<(), String> {
    let Some(Web::Ws(mut ws)) = conn.web.take() else {
        return Ok(());
    };
    let mut rbuf = std::mem::take(&mut conn.rbuf);
    let mut out = Vec::new();
    let result = ws.feed(&mut rbuf, max_message, &mut out, |step| match step {
        ws::Step::More => more(conn),
        ws::Step::Input(input) => take(conn, input),
    });
    conn.web = Some(Web::Ws(ws));
    conn.rbuf = rbuf;
    if !out.is_empty() {
        push_raw(conn, out);
    }
    result
}
