//! Opening `DATA_DIR/accounts.json` for the core (password hashing runs on
//! its own worker, see `workers`).

use super::{ServerConfig, ServerError};
use crate::core::Core;
use crate::store::accounts::AccountFile;

/// Open `DATA_DIR/accounts.json` and hand it to the core.
pub(super) fn attach_accounts(cfg: &ServerConfig, core: &mut Core) -> Result<(), ServerError> {
    let (file, accounts) =
        AccountFile::open(&cfg.data_dir).map_err(|source| ServerError::DataDir {
            path: cfg.data_dir.join(crate::store::accounts::FILE),
            source,
        })?;
    log::info!("accounts: {} registered name(s)", accounts.len());
    core.set_accounts(Some(Box::new(file)), accounts);
    Ok(())
}
