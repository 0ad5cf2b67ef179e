//! The browser client's files, embedded in the binary (no build step, no
//! CDN: a LAN may have no internet). The page (`src/web/index.html`) names
//! each script and stylesheet by a placeholder, `{{NAME.js}}`; the server
//! replaces it with a name carrying a hash of the file's content
//! (`/NAME.3f9a….js`), so a browser may cache those for good, and the page
//! itself (`/`) is never cached, so a new server version is picked up on the
//! next load. Only the hashed names are served.

use sha2::{Digest, Sha256};

const INDEX: &str = include_str!("../../web/index.html");

/// Every file of `src/web` that the page names by a placeholder, with its
/// text. A file added there needs a line here (the tests below check both
/// ways: every placeholder has a file, every file a placeholder, and every
/// `.js` and `.css` of `src/web` is here).
const FILES: &[(&str, &str)] = &[
    ("util.js", include_str!("../../web/util.js")),
    ("sha256.js", include_str!("../../web/sha256.js")),
    ("state.js", include_str!("../../web/state.js")),
    ("alerts.js", include_str!("../../web/alerts.js")),
    ("connection.js", include_str!("../../web/connection.js")),
    (
        "conversations.js",
        include_str!("../../web/conversations.js"),
    ),
    ("sidebar.js", include_str!("../../web/sidebar.js")),
    ("messages.js", include_str!("../../web/messages.js")),
    ("receipts.js", include_str!("../../web/receipts.js")),
    ("composer.js", include_str!("../../web/composer.js")),
    ("rooms.js", include_str!("../../web/rooms.js")),
    ("dialogs.js", include_str!("../../web/dialogs.js")),
    ("calls.js", include_str!("../../web/calls.js")),
    ("transfers.js", include_str!("../../web/transfers.js")),
    ("files.js", include_str!("../../web/files.js")),
    ("frames.js", include_str!("../../web/frames.js")),
    ("app.js", include_str!("../../web/app.js")),
    ("app.css", include_str!("../../web/app.css")),
];

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

/// `/STEM.HASH.EXT` for `STEM.EXT`: the first 16 hex digits of the content's
/// SHA-256.
fn hashed(name: &str, body: &str) -> String {
    let (stem, ext) = name
        .rsplit_once('.')
        .expect("an asset name has an extension");
    let digest = Sha256::digest(body.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("/{stem}.{hex}.{ext}")
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        _ => panic!("no content type for asset {name}"),
    }
}

impl Assets {
    pub fn new() -> Assets {
        let mut index = INDEX.to_string();
        let mut files = Vec::with_capacity(FILES.len() + 1);
        for (name, body) in FILES {
            let path = hashed(name, body);
            index = index.replace(&format!("{{{{{name}}}}}"), &path);
            files.push(Asset {
                path,
                content_type: content_type(name),
                body: body.as_bytes().to_vec(),
                immutable: true,
            });
        }
        files.insert(
            0,
            Asset {
                path: "/".into(),
                content_type: "text/html; charset=utf-8",
                body: index.into_bytes(),
                immutable: false,
            },
        );
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
    use std::collections::BTreeSet;

    /// The `NAME` of every `{{NAME}}` in the page's source.
    fn placeholders() -> BTreeSet<String> {
        INDEX
            .split("{{")
            .skip(1)
            .map(|s| s.split("}}").next().unwrap().to_string())
            .collect()
    }

    #[test]
    fn the_page_names_every_asset_by_content_hash() {
        let a = Assets::new();
        let page = String::from_utf8(a.get("/").unwrap().body.clone()).unwrap();
        assert!(!page.contains("{{"), "a placeholder is left: {page}");
        assert_eq!(a.files.len(), FILES.len() + 1);
        for (f, (name, body)) in a.files[1..].iter().zip(FILES) {
            assert!(f.immutable);
            assert_eq!(f.body, body.as_bytes());
            let (stem, ext) = name.rsplit_once('.').unwrap();
            let hash = f
                .path
                .strip_prefix(&format!("/{stem}."))
                .and_then(|s| s.strip_suffix(&format!(".{ext}")))
                .unwrap_or_else(|| panic!("{} is not /{stem}.HASH.{ext}", f.path));
            assert_eq!(hash.len(), 16, "{}", f.path);
            assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{}", f.path);
            let digest = Sha256::digest(body.as_bytes());
            assert!(
                hex_of(&digest).starts_with(hash),
                "{}: not its content's hash",
                f.path
            );
            let quoted = format!("\"{}\"", f.path);
            assert!(
                page.contains(&quoted),
                "{} is not named by the page",
                f.path
            );
            assert!(
                a.get(&format!("/{name}")).is_none(),
                "only hashed names are served, not /{name}"
            );
        }
        assert!(a.get("/index.html").is_some());
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn every_placeholder_has_a_file_and_every_file_a_placeholder() {
        let listed: BTreeSet<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(placeholders(), listed);
    }

    #[test]
    fn every_script_and_stylesheet_of_src_web_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".js") || name.ends_with(".css") {
                assert!(
                    FILES.iter().any(|(n, _)| *n == name),
                    "src/web/{name} is not in assets.rs FILES"
                );
            }
        }
    }
}
