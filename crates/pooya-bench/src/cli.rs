//! The command line (clap): the options of a load run (`--cards`, `--setup`, `--connections` …),
//! or `chart FILE.csv OUT.svg`. Every command of BENCHMARKS.md parses (a test below reads them
//! from the file).

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

/// pooya's load tool: how many verifications per second one `pooya serve` decides (or, with
/// `--target health`, its bare HTTP rate), every answer checked. See BENCHMARKS.md.
#[derive(Debug, Parser)]
#[command(
    name = "pooya-bench",
    // As before clap: a flag given twice takes its last value.
    args_override_self = true,
    args_conflicts_with_subcommands = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub load: Args,
}

impl Cli {
    /// Parses the command line, with the one rule clap's attributes cannot say: `--nodes` above 1
    /// needs `--database-url` (the nodes share one database; SQLite is one process's).
    pub fn try_parse_checked<I, T>(words: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let cli = Cli::try_parse_from(words)?;
        if cli.command.is_none() && cli.load.nodes > 1 && cli.load.database_url.is_none() {
            return Err(Cli::command().error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "--nodes above 1 needs --database-url: the nodes share one PostgreSQL database",
            ));
        }
        Ok(cli)
    }
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Draws throughput against connections, one line per label, from the lines `--csv` appended
    /// (the chart of BENCHMARKS.md).
    Chart {
        /// The CSV file `--csv` appended to.
        #[arg(value_name = "FILE.csv")]
        csv: PathBuf,
        /// Where the SVG goes.
        #[arg(value_name = "OUT.svg")]
        out: PathBuf,
    },
}

/// How the cards are set up (`--setup`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
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

/// What the workers send (`--target`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// `POST /v1/verify` with the cards' codes.
    Verify,
    /// `GET /v1/health`: the bare HTTP rate, no cards.
    Health,
}

/// A load run.
#[derive(Debug, PartialEq, clap::Args)]
pub struct Args {
    /// Run on a fresh PostgreSQL database created through this URL and dropped at the end
    /// (default: SQLite in the temporary data directory).
    #[arg(long, value_name = "postgres://…", value_parser = postgres_url)]
    pub database_url: Option<String>,
    /// `pooya serve` processes on the one database (above 1 needs `--database-url`): the first
    /// does the setup, the others start after it; worker w talks to node w % N.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = positive_count)]
    pub nodes: usize,
    /// Cards to set up, at most 9999999.
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = card_count)]
    pub cards: usize,
    /// How the cards are set up.
    #[arg(long, value_enum, default_value_t = Setup::Enroll)]
    pub setup: Setup,
    /// Workers, each with its own keep-alive connection.
    #[arg(long, value_name = "C", default_value_t = 32, value_parser = positive_count)]
    pub connections: usize,
    /// How long the load runs.
    #[arg(long, value_name = "T", default_value_t = 10.0, value_parser = positive_seconds)]
    pub seconds: f64,
    /// The server's database pool size (default: the server's).
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u32).range(1..))]
    pub pool_size: Option<u32>,
    /// The share of requests that carry a wrong code, 0 to 1.
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = share)]
    pub wrong_share: f64,
    /// What the workers send.
    #[arg(long, value_enum, default_value_t = Target::Verify)]
    pub target: Target,
    /// Append one line of figures to this CSV file.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// The CSV line's series (default: the store and the target).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub label: Option<String>,
}

impl Args {
    /// `--target health`.
    pub fn health(&self) -> bool {
        self.target == Target::Health
    }
}

fn postgres_url(v: &str) -> Result<String, String> {
    if v.starts_with("postgres://") || v.starts_with("postgresql://") {
        Ok(v.to_owned())
    } else {
        Err("must be a postgres:// URL".into())
    }
}

fn card_count(v: &str) -> Result<usize, String> {
    let n = positive_count(v)?;
    if n >= 10_000_000 {
        // Card numbers, customer ids and mobile numbers are made of the index's digits.
        return Err("at most 9999999".into());
    }
    Ok(n)
}

fn positive_count(v: &str) -> Result<usize, String> {
    v.parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| "a whole number of at least 1".into())
}

fn positive_seconds(v: &str) -> Result<f64, String> {
    v.parse()
        .ok()
        .filter(|s: &f64| *s > 0.0)
        .ok_or_else(|| "a number of seconds above 0".into())
}

fn share(v: &str) -> Result<f64, String> {
    v.parse()
        .ok()
        .filter(|s: &f64| (0.0..=1.0).contains(s))
        .ok_or_else(|| "a share from 0 to 1".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        let words = shlex::split(line).expect("a shell line");
        Cli::try_parse_checked(std::iter::once("pooya-bench".to_owned()).chain(words))
    }

    fn load(line: &str) -> Args {
        let cli = parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(cli.command, None, "{line:?}");
        cli.load
    }

    /// Every `$B …` of BENCHMARKS.md, with its placeholders (`C`, `N`, `F`, `$c`, `$CSV`, `$PG`,
    /// `…`) filled in as a reader would.
    fn benchmarks_commands() -> Vec<String> {
        let doc = include_str!("../../../BENCHMARKS.md");
        let mut out = Vec::new();
        for line in doc.lines() {
            for (i, _) in line.match_indices("$B ") {
                let rest = &line[i + 3..];
                let end = rest.find(['`', '#', ';']).unwrap_or(rest.len());
                let words: Vec<String> = rest[..end]
                    .replace("--label …", "--label series")
                    .replace("$PG", "postgres://postgres@127.0.0.1:5432/test")
                    .replace("$CSV", "f.csv")
                    .replace("$c", "64")
                    .split(' ')
                    .filter(|w| *w != "…")
                    .map(|w| match w {
                        "C" | "N" => "64",
                        "F" => "f.csv",
                        w => w,
                    })
                    .map(str::to_owned)
                    .collect();
                out.push(words.join(" ").trim().to_owned());
            }
        }
        out
    }

    #[test]
    fn every_command_of_benchmarks_md_parses() {
        let commands = benchmarks_commands();
        assert!(commands.len() >= 20, "{commands:?}");
        for c in &commands {
            parse(c).unwrap_or_else(|e| panic!("BENCHMARKS.md: `$B {c}`: {e}"));
        }
    }

    #[test]
    fn defaults_are_those_of_the_usage() {
        assert_eq!(
            load(""),
            Args {
                database_url: None,
                nodes: 1,
                cards: 200,
                setup: Setup::Enroll,
                connections: 32,
                seconds: 10.0,
                pool_size: None,
                wrong_share: 0.0,
                target: Target::Verify,
                csv: None,
                label: None,
            }
        );
    }

    #[test]
    fn every_option_is_read() {
        let a = load(
            "--database-url postgresql://u@h/db --nodes 2 --cards 9999999 --setup pskc \
             --connections 64 --seconds 2.5 --pool-size 32 --wrong-share 0.1 --target health \
             --csv f.csv --label \"SQLite verify, 1 000 cards\"",
        );
        assert_eq!(
            a,
            Args {
                database_url: Some("postgresql://u@h/db".into()),
                nodes: 2,
                cards: 9_999_999,
                setup: Setup::Pskc,
                connections: 64,
                seconds: 2.5,
                pool_size: Some(32),
                wrong_share: 0.1,
                target: Target::Health,
                csv: Some("f.csv".into()),
                label: Some("SQLite verify, 1 000 cards".into()),
            }
        );
        assert!(a.health());
        // `--name=value`, and a flag given twice takes its last value, as before clap.
        let a = load("--cards=5 --label=x --cards 7 --target verify");
        assert_eq!(
            (a.cards, a.label.as_deref(), a.health()),
            (7, Some("x"), false)
        );
    }

    #[test]
    fn more_than_one_node_needs_a_database_url() {
        let e = parse("--nodes 2 --cards 10").unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        assert!(e.to_string().contains("--database-url"), "{e}");
        assert!(parse("--nodes 3 --target health").is_err());
        assert_eq!(load("--nodes 1").nodes, 1);
        assert_eq!(load("--database-url postgres://h/db --nodes 2").nodes, 2);
        // The rule is the load's: `chart` is not refused for it.
        assert!(parse("chart a.csv b.svg").is_ok());
    }

    #[test]
    fn chart_takes_two_files() {
        let cli = parse("chart results.csv out.svg").unwrap();
        assert_eq!(
            cli.command,
            Some(Command::Chart {
                csv: "results.csv".into(),
                out: "out.svg".into()
            })
        );
        assert!(parse("chart results.csv").is_err());
        assert!(parse("--cards 5 chart a.csv b.svg").is_err());
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            "--cards 0",
            "--cards 10000000",
            "--cards x",
            "--connections 0",
            "--seconds 0",
            "--seconds -1",
            "--seconds NaN",
            "--pool-size 0",
            "--wrong-share 1.5",
            "--wrong-share -0.1",
            "--setup other",
            "--target other",
            "--database-url mysql://h/db",
            "--nodes 0",
            "--nodes x",
            "--cards",
            "--nope 1",
            "stray",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was taken");
        }
    }
}
