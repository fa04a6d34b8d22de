//! The command line: the options of a load run (`--cards`, `--setup`, `--connections` …).

use std::path::PathBuf;

use pooya_bench::Res;

/// How the cards are set up (`--setup`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// Branch registration, ATM activation and SPAKE2 app enrollment of every card: app tokens,
    /// both passwords dynamic.
    Enroll,
    /// Branch registration, then TOTP hardware tokens imported in bulk through the admin PSKC
    /// import: the second password dynamic, the first the static PIN (not driven).
    Pskc,
}

impl Setup {
    pub fn name(self) -> &'static str {
        match self {
            Setup::Enroll => "enroll",
            Setup::Pskc => "pskc",
        }
    }
}

pub struct Args {
    pub database_url: Option<String>,
    pub cards: usize,
    pub setup: Setup,
    pub connections: usize,
    pub seconds: f64,
    pub pool_size: Option<u32>,
    pub wrong_share: f64,
    pub health: bool,
    pub csv: Option<PathBuf>,
    pub label: Option<String>,
}

pub const USAGE: &str = "usage: pooya-bench [--database-url postgres://…] [--cards N (200)] \
     [--setup enroll|pskc (enroll)] [--connections C (32)] [--seconds T (10)] [--pool-size P (server default)] \
     [--wrong-share F (0)] [--target verify|health] [--csv FILE (append one line)] \
     [--label TEXT (the csv line's series)]\n       pooya-bench chart FILE.csv OUT.svg";

pub fn parse_args() -> Res<Args> {
    let mut a = Args {
        database_url: None,
        cards: 200,
        setup: Setup::Enroll,
        connections: 32,
        seconds: 10.0,
        pool_size: None,
        wrong_share: 0.0,
        health: false,
        csv: None,
        label: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (flag.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        let bad = |v: &str| format!("{name}: bad value {v:?}\n{USAGE}");
        match name.as_str() {
            "--database-url" => a.database_url = Some(value()?),
            "--cards" => {
                let v = value()?;
                a.cards = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| bad(&v))?;
            }
            "--connections" => {
                let v = value()?;
                a.connections = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| bad(&v))?;
            }
            "--seconds" => {
                let v = value()?;
                a.seconds = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0)
                    .ok_or_else(|| bad(&v))?;
            }
            "--pool-size" => {
                let v = value()?;
                a.pool_size = Some(v.parse().ok().filter(|n| *n > 0).ok_or_else(|| bad(&v))?);
            }
            "--wrong-share" => {
                let v = value()?;
                a.wrong_share = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| (0.0..=1.0).contains(s))
                    .ok_or_else(|| bad(&v))?;
            }
            "--setup" => match value()?.as_str() {
                "enroll" => a.setup = Setup::Enroll,
                "pskc" => a.setup = Setup::Pskc,
                v => return Err(bad(v)),
            },
            "--target" => match value()?.as_str() {
                "verify" => a.health = false,
                "health" => a.health = true,
                v => return Err(bad(v)),
            },
            "--csv" => a.csv = Some(PathBuf::from(value()?)),
            "--label" => a.label = Some(value()?),
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
    }
    if a.cards >= 10_000_000 {
        // Card numbers, customer ids and mobile numbers are made of the index's digits.
        return Err(format!("--cards: at most 9999999\n{USAGE}"));
    }
    if let Some(u) = &a.database_url {
        if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) {
            return Err("--database-url must be a postgres:// URL".into());
        }
    }
    Ok(a)
}
