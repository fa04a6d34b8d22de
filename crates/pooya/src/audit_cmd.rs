//! `pooya audit verify` and `pooya audit export`: read the audit trail straight from the store,
//! with the server's keys (the chain's MACs need them; see `pooya_issuer::audit`).

use std::io::Write;
use std::path::PathBuf;

use pooya_issuer::audit::{export_line, parse_anchors, Verifier, LANES};
use pooya_server::ServeOptions;

/// Records read per query.
const PAGE: i64 = 1000;

#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Walks the hash chain of the audit trail and names the first broken record; exits 0 when
    /// it is intact, 1 when it is broken, 2 when it cannot be read. Prints each lane's last link:
    /// keep them elsewhere to detect a later cut of the trail's tail (docs/security.md).
    Verify {
        #[command(flatten)]
        store: crate::StoreArgs,
        /// An earlier report of `pooya audit verify`, kept outside the database: every lane head
        /// it lists must still be in the chain, unchanged (catches a cut tail whose head row was
        /// rewound, and a database restored to an earlier state).
        #[arg(long, value_name = "FILE")]
        anchors: Option<PathBuf>,
    },
    /// Writes every audit record, oldest first, as one JSON object a line (no secrets: PANs and
    /// mobiles are masked, codes never recorded).
    Export {
        #[command(flatten)]
        store: crate::StoreArgs,
        /// Write to FILE instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn options(store: crate::StoreArgs) -> ServeOptions {
    ServeOptions {
        data_dir: store.data_dir,
        database_url: store.database_url,
        config: store.config,
        ..ServeOptions::default()
    }
}

/// What `verify` found: `Ok(report)` intact, `Err(Ok(report))` broken, `Err(Err(why))` unreadable.
async fn verify(
    opts: &ServeOptions,
    anchors: Option<PathBuf>,
) -> Result<String, Result<String, String>> {
    let anchors = match anchors {
        Some(p) => std::fs::read_to_string(&p)
            .map_err(|e| format!("{}: {e}", p.display()))
            .and_then(|t| parse_anchors(&t))
            .map_err(Err)?,
        None => Vec::new(),
    };
    let opened = pooya_server::open(opts)
        .await
        .map_err(|e| Err(e.to_string()))?;
    let store = &opened.store;
    // Heads first: records appended while we walk are then later links, not damage.
    let heads = store.audit_heads().await.map_err(|e| Err(e.to_string()))?;
    let broken = |b: pooya_issuer::audit::Break| Ok(format!("audit chain BROKEN at {b}"));
    let mut v = Verifier::new(&opened.keyring, &heads)
        .map_err(broken)?
        .with_anchors(&anchors);
    let mut after = 0;
    loop {
        let page = store
            .audit_page(after, PAGE)
            .await
            .map_err(|e| Err(e.to_string()))?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for r in &page {
            v.push(r).map_err(broken)?;
        }
    }
    let s = v.finish().map_err(broken)?;
    let mut out = format!("audit chain ok: {} records in {LANES} lanes", s.records);
    if s.legacy > 0 {
        out.push_str(&format!(
            "; {} older records from before the chain are not covered",
            s.legacy
        ));
    }
    for h in s.heads.iter().filter(|h| h.seq > 0) {
        out.push_str(&format!("\nlane {} seq {} mac {}", h.lane, h.seq, h.mac));
    }
    Ok(out)
}

async fn export(opts: &ServeOptions, out: Option<PathBuf>) -> Result<u64, String> {
    let opened = pooya_server::open(opts).await.map_err(|e| e.to_string())?;
    let mut w: Box<dyn Write> = match &out {
        Some(p) => Box::new(std::io::BufWriter::new(
            pooya_issuer::fsutil::open_private(p, false)
                .map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut after = 0;
    let mut n = 0;
    loop {
        let page = opened
            .store
            .audit_page(after, PAGE)
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for r in &page {
            writeln!(w, "{}", export_line(r)).map_err(|e| e.to_string())?;
            n += 1;
        }
    }
    w.flush().map_err(|e| e.to_string())?;
    Ok(n)
}

pub fn run(cmd: AuditCommand) -> std::process::ExitCode {
    use std::process::ExitCode;
    let rt = match crate::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pooya audit: {e}");
            return ExitCode::from(2);
        }
    };
    match cmd {
        AuditCommand::Verify { store, anchors } => {
            match rt.block_on(verify(&options(store), anchors)) {
                Ok(report) => {
                    println!("{report}");
                    ExitCode::SUCCESS
                }
                Err(Ok(report)) => {
                    println!("{report}");
                    ExitCode::FAILURE
                }
                Err(Err(why)) => {
                    eprintln!("pooya audit verify: {why}");
                    ExitCode::from(2)
                }
            }
        }
        AuditCommand::Export { store, out } => match rt.block_on(export(&options(store), out)) {
            Ok(n) => {
                eprintln!("pooya audit export: {n} records");
                ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("pooya audit export: {why}");
                ExitCode::from(2)
            }
        },
    }
}
