//! Registered names and their password hashes: `DATA_DIR/accounts.json`.
//!
//! Passwords are kept only as Argon2id hashes in PHC form
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`: the parameters and a
//! random 16-byte salt travel with each hash), made by RustCrypto's `argon2`
//! crate with OWASP's parameters (19 MiB, 2 passes, 1 lane): tens of
//! milliseconds and 19 MiB per guess, on purpose. The file is rewritten
//! whole on every change: a temp file in the same directory (mode 0600),
//! fsynced, renamed over the old one, then the directory fsynced, so it is
//! always the old or the new list. Nothing here logs a password.
//!
//! The core never saves the file itself: it queues an
//! `Effect::SaveAccounts` with a snapshot of the map, which the password
//! worker (or the simulation) hands to [`AccountFile::save`].

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Name of the accounts file in the data directory.
pub const FILE: &str = "accounts.json";

/// Shortest password accepted, in characters.
pub const MIN_PASSWORD: usize = 8;
/// Longest password accepted, in bytes (hashing cost does not depend on it
/// much, but there is no reason to take megabytes).
pub const MAX_PASSWORD: usize = 1024;

/// One registered name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Argon2id hash in PHC string form.
    pub hash: String,
    /// When the name was registered (Unix ms).
    pub since: u64,
    /// The highest message id from before the name was the owner's: the
    /// owner reads back private conversations only above it (what came
    /// earlier was sent to whoever used the open name then). 0 for names
    /// registered before this was kept: everything.
    #[serde(default)]
    pub dms_from: u64,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    accounts: BTreeMap<String, Account>,
}

/// Hash a password with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("password hashing failed: {e}"))
}

/// Whether `password` matches a stored hash (parameters from the hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Check a new password's length; `Err` says why, for the user.
pub fn check_new_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(format!(
            "a password needs at least {MIN_PASSWORD} characters (this one has {n})"
        ));
    }
    if password.len() > MAX_PASSWORD {
        return Err(format!("a password may have at most {MAX_PASSWORD} bytes"));
    }
    Ok(())
}

/// The accounts file of a data directory.
#[derive(Debug)]
pub struct AccountFile {
    dir: PathBuf,
    /// Saves fail as on a full disk (tests).
    fail: bool,
}

impl AccountFile {
    /// Open (or, if absent, start) `dir/accounts.json`.
    pub fn open(dir: &Path) -> io::Result<(AccountFile, BTreeMap<String, Account>)> {
        let path = dir.join(FILE);
        // Hashes are for the server's user only: an older, wider file is
        // tightened before it is read.
        super::perms::tighten(&path)?;
        let accounts = match fs::read(&path) {
            Ok(bytes) => {
                let d: OnDisk = serde_json::from_slice(&bytes).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} is damaged: {e}", path.display()),
                    )
                })?;
                d.accounts
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok((
            AccountFile {
                dir: dir.to_path_buf(),
                fail: false,
            },
            accounts,
        ))
    }

    /// Make every save fail as on a full disk (tests), or stop doing so.
    pub fn inject_failure(&mut self, fail: bool) {
        self.fail = fail;
    }

    /// Replace the file with `accounts`, atomically.
    pub fn save(&self, accounts: &BTreeMap<String, Account>) -> io::Result<()> {
        if self.fail {
            return Err(io::Error::from_raw_os_error(28));
        }
        let body = serde_json::to_vec_pretty(&OnDisk {
            version: 1,
            accounts: accounts.clone(),
        })
        .map_err(io::Error::other)?;
        // Created 0600 (readable by the server's user only) and renamed
        // into place, so the file is never readable by anyone else.
        let mut tmp = super::perms::temp_file(".accounts-", &self.dir)?;
        tmp.write_all(&body)?;
        tmp.as_file().sync_all()?;
        tmp.persist(self.dir.join(FILE)).map_err(|e| e.error)?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_and_verify() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert_ne!(a, b, "a fresh salt each time");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert!(verify_password("correct horse", &a));
        assert!(!verify_password("correct horsf", &a));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn password_lengths() {
        assert!(check_new_password("1234567").is_err());
        assert!(check_new_password("12345678").is_ok());
        assert!(check_new_password("ééééééé").is_err());
        assert!(check_new_password(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn saved_atomically_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (file, accounts) = AccountFile::open(dir.path()).unwrap();
        assert!(accounts.is_empty());
        let mut accounts = BTreeMap::new();
        accounts.insert(
            "alice".to_string(),
            Account {
                hash: "$argon2id$x".into(),
                since: 1,
                dms_from: 7,
            },
        );
        file.save(&accounts).unwrap();
        let (_, back) = AccountFile::open(dir.path()).unwrap();
        assert_eq!(back, accounts);
        let mode = fs::metadata(dir.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "only the owner may read it: {mode:o}");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from(FILE)],
            "no temp file left"
        );
    }

    #[test]
    fn an_older_file_without_dms_from_reads_as_zero_and_a_wide_one_is_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        fs::write(
            &path,
            r#"{"version":1,"accounts":{"bob":{"hash":"$argon2id$y","since":5}}}"#,
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let (_, accounts) = AccountFile::open(dir.path()).unwrap();
        assert_eq!(accounts["bob"].dms_from, 0);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
}
