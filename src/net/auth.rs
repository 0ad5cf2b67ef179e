//! Opening `DATA_DIR/accounts.json` at start-up: the core gets the
//! registered names, the password worker (see `workers`) the file, which it
//! saves whenever the core queues an `Effect::SaveAccounts`.

use super::{ServerConfig, ServerError};
use crate::core::Core;
use crate::store::accounts::AccountFile;

/// Open `DATA_DIR/accounts.json`: its names to the core, the file to the
/// workers.
pub(super) fn attach_accounts(
    cfg: &ServerConfig,
    core: &mut Core,
) -> Result<AccountFile, ServerError> {
    let (file, accounts) =
        AccountFile::open(&cfg.data_dir).map_err(|source| ServerError::DataDir {
            path: cfg.data_dir.join(crate::store::accounts::FILE),
            source,
        })?;
    log::info!("accounts: {} registered name(s)", accounts.len());
    core.set_accounts(accounts);
    Ok(file)
}
