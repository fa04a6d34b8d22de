//! Whether the bank still takes each card's codes: `sync` and the full-screen app's start ask
//! each issuer (`POST /v1/app/token-status`, a proof of the seed) and the vault remembers the
//! answers, so `code`, `list` and the full screen warn offline too.

use crate::clock::{boot_now, local_now_ms};
use crate::error::Result;
use crate::vault::{Vault, VaultFile};
use crate::{block_on, client, not_in_force_warning, tr};

/// The full-screen app, as it starts: where an issuer answers, its clock is measured again and
/// each of its tokens asked whether it is still in force (the screen then marks a card the bank
/// replaced or revoked). Offline, or where an issuer fails, the app goes on with what the vault
/// holds: codes never need the network.
pub(crate) fn check_at_start(vault: &mut Vault) {
    let mut servers: Vec<String> = Vec::new();
    for t in vault.tokens() {
        if !servers.contains(&t.server) {
            servers.push(t.server.clone());
        }
    }
    let mut changed = false;
    for server in servers {
        let Ok(transport) = client::HttpTransport::new(&server) else {
            continue;
        };
        let Ok(clock) = block_on(|| client::measure_clock(&transport, local_now_ms, boot_now))
        else {
            continue;
        };
        let off = clock.offset_ms;
        vault.set_clock(clock);
        changed = true;
        // A failure here leaves the earlier answers standing, as sync does.
        let _ = check_in_force(vault, &transport, &server, off);
    }
    if changed {
        if let Err(e) = vault.save() {
            eprintln!("{}: {e}", tr!("error", "خطا"));
        }
    }
}

/// Asks `server` whether each of its tokens in the vault is still in force (`offset_ms`: its
/// clock, just measured) and records the answers; warns of each that is not.
pub(crate) fn check_in_force(
    vault: &mut Vault,
    transport: &client::HttpTransport,
    server: &str,
    offset_ms: i64,
) -> Result<()> {
    let ids: Vec<String> = vault
        .tokens()
        .iter()
        .filter(|t| t.server == server)
        .map(|t| t.token_id.clone())
        .collect();
    for id in ids {
        let Some(token) = vault.tokens().iter().find(|t| t.token_id == id) else {
            continue;
        };
        let server_now = local_now_ms().saturating_add(offset_ms);
        let in_force = block_on(|| client::token_in_force(transport, token, server_now))?;
        if !in_force {
            eprintln!("{}", not_in_force_warning(token));
        }
        vault.set_in_force(&id, in_force);
    }
    Ok(())
}
