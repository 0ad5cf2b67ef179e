//! The client's file work: hashing in blocks (never a whole file in memory),
//! the receiver's `NAME.part`, and publishing a verified file under a name
//! that does not exist yet (`photo.jpg`, else `photo-1.jpg`, `photo-2.jpg`, ...).

use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Hash the first `limit` bytes of `file` (all of it with `None`).
pub fn hash_reader(file: &mut File, limit: Option<u64>) -> io::Result<(u64, Sha256)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let want = match limit {
            Some(l) if l - total < buf.len() as u64 => (l - total) as usize,
            _ => buf.len(),
        };
        if want == 0 {
            break;
        }
        let n = match file.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, h))
}

/// Size and hex SHA-256 of the whole file at `path`.
pub fn hash_path(path: &Path) -> io::Result<(u64, String)> {
    let mut f = File::open(path)?;
    let (n, h) = hash_reader(&mut f, None)?;
    Ok((n, crate::protocol::files::hex(&h.finalize())))
}

/// `stem-N.ext` for the Nth alternative to `name`: `-N` goes before the
/// first dot after the first character (so `.x` becomes `.x-1`). Counted in
/// characters, never bytes: `é.txt` becomes `é-1.txt`.
pub fn numbered(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_string();
    }
    match name.char_indices().skip(1).find(|&(_, c)| c == '.') {
        Some((i, _)) => format!("{}-{n}{}", &name[..i], &name[i..]),
        None => format!("{name}-{n}"),
    }
}

/// Give the finished `part` its final name without replacing anything:
/// `target`, or a numbered variant of it. Returns the name used.
pub fn publish(part: &Path, target: &Path) -> io::Result<PathBuf> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    for n in 0..10_000 {
        let candidate = dir.join(numbered(&name, n));
        // A hard link fails if the name exists: a no-clobber rename.
        match fs::hard_link(part, &candidate) {
            Ok(()) => {
                fs::remove_file(part)?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(_) if !candidate.exists() => {
                // No hard links here (some file systems): plain rename.
                fs::rename(part, &candidate)?;
                return Ok(candidate);
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no free file name left"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names() {
        assert_eq!(numbered("photo.jpg", 0), "photo.jpg");
        assert_eq!(numbered("photo.jpg", 2), "photo-2.jpg");
        assert_eq!(numbered("a.tar.gz", 1), "a-1.tar.gz");
        assert_eq!(numbered("README", 1), "README-1");
        assert_eq!(numbered(".x", 1), ".x-1");
        // Multi-byte first characters (this panicked: a byte index inside "é").
        assert_eq!(numbered("é.txt", 1), "é-1.txt");
        assert_eq!(numbered("日本.txt", 2), "日本-2.txt");
        assert_eq!(numbered("é", 1), "é-1");
        assert_eq!(numbered("", 1), "-1");
    }

    #[test]
    fn publish_a_non_ascii_name_twice() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("é.txt");
        for (i, want) in ["é.txt", "é-1.txt"].iter().enumerate() {
            let part = d.path().join("é.txt.part");
            fs::write(&part, [i as u8]).unwrap();
            assert_eq!(publish(&part, &target).unwrap(), d.path().join(want));
        }
    }

    #[test]
    fn publish_never_overwrites() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("f.txt");
        fs::write(&target, b"old").unwrap();
        let part = d.path().join("f.txt.part");
        fs::write(&part, b"new").unwrap();
        let got = publish(&part, &target).unwrap();
        assert_eq!(got, d.path().join("f-1.txt"));
        assert_eq!(fs::read(&target).unwrap(), b"old");
        assert_eq!(fs::read(&got).unwrap(), b"new");
        assert!(!part.exists());
    }

    #[test]
    fn hash_prefix() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        fs::write(&p, b"hello world").unwrap();
        let mut f = File::open(&p).unwrap();
        let (n, h) = hash_reader(&mut f, Some(5)).unwrap();
        assert_eq!(n, 5);
        assert_eq!(h.finalize().as_slice(), Sha256::digest(b"hello").as_slice());
        assert_eq!(hash_path(&p).unwrap().0, 11);
    }
}
