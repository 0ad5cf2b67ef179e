//! The browser client's files, embedded in the binary (no build step, no
//! CDN: a LAN may have no internet). The script and the styles are served
//! under names carrying a hash of their content (`/app.3f9a….js`), so a
//! browser may cache them for good; the page itself (`/`) names them and is
//! never cached, so a new server version is picked up on the next load.

use sha2::{Digest, Sha256};

const INDEX: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const APP_CSS: &str = include_str!("../../web/app.css");

/// One file the server serves.
#[derive(Debug, Clone)]
pub struct Asset {
    pub path: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Named by its content hash: cache for good.
    pub immutable: bool,
}

/// Every file, built once at start-up.
#[derive(Debug, Clone)]
pub struct Assets {
    files: Vec<Asset>,
}

/// `/NAME.HASH.EXT`: the first 16 hex digits of the content's SHA-256.
fn hashed(name: &str, ext: &str, body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("/{name}.{hex}.{ext}")
}

impl Assets {
    pub fn new() -> Assets {
        let js = hashed("app", "js", APP_JS);
        let css = hashed("app", "css", APP_CSS);
        let index = INDEX
            .replace("{{app.js}}", &js)
            .replace("{{app.css}}", &css);
        let files = vec![
            Asset {
                path: "/".into(),
                content_type: "text/html; charset=utf-8",
                body: index.into_bytes(),
                immutable: false,
            },
            Asset {
                path: js,
                content_type: "text/javascript; charset=utf-8",
                body: APP_JS.as_bytes().to_vec(),
                immutable: true,
            },
            Asset {
                path: css,
                content_type: "text/css; charset=utf-8",
                body: APP_CSS.as_bytes().to_vec(),
                immutable: true,
            },
        ];
        Assets { files }
    }

    /// The file served at `path` (`/index.html` is `/`).
    pub fn get(&self, path: &str) -> Option<&Asset> {
        let path = if path == "/index.html" { "/" } else { path };
        self.files.iter().find(|a| a.path == path)
    }
}

impl Default for Assets {
    fn default() -> Self {
        Assets::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_its_assets_by_content_hash() {
        let a = Assets::new();
        let page = String::from_utf8(a.get("/").unwrap().body.clone()).unwrap();
        assert!(!page.contains("{{"), "a placeholder is left: {page}");
        for f in &a.files[1..] {
            assert!(f.immutable);
            assert!(
                page.contains(&f.path),
                "{} is not named by the page",
                f.path
            );
            let hash = f.path.split('.').nth(1).unwrap();
            assert_eq!(hash.len(), 16, "{}", f.path);
            assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{}", f.path);
        }
        assert!(a.get("/index.html").is_some());
        assert!(a.get("/app.js").is_none(), "only hashed names are served");
    }
}
