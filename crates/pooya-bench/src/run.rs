//! One run: the server started, the cards set up (then the other nodes of `--nodes` started), the
//! clock stood mid-step, the load driven, and the figures printed (and appended to `--csv`).

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pooya_bench::{percentile, Res};
use serde_json::{json, Value};

use crate::cards::{Cards, STEP_MS, STEP_SECS};
use crate::cli::{Args, Setup};
use crate::cpu::{clock_ticks, cpu_snapshot, memory};
use crate::http::new_client;
use crate::load::{move_clocks, worker, Round, Shared, WorkerReport};
use crate::outbox::Outbox;
use crate::server::{server_binary, start_server, Keys, Server};
use crate::setup::{set_up_cards, set_up_hardware_cards, PSKC_MAX_BODY};
use pooya_store_sql::test_support::TempPg;

/// Above this many cards, `--setup enroll` warns that `--setup pskc` would be much faster.
const ENROLL_HINT_CARDS: usize = 20_000;

fn per_card_ms(d: Duration, cards: usize) -> f64 {
    d.as_secs_f64() * 1000.0 / cards.max(1) as f64
}

/// Runs everything; `Ok(false)` when the load met errors.
pub async fn run(args: Args) -> Res<bool> {
    let bin = server_binary()?;
    let work = tempfile::Builder::new()
        .prefix("pooya-load-")
        .tempdir()
        .map_err(|e| format!("tempdir: {e}"))?;
    let mut config = format!(
        "[hashing]\nm_kib = 64\nt = 1\np = 1\n\n\
         [policy.otp]\nlifetime_secs = {STEP_SECS}\nmax_lifetime_secs = {STEP_SECS}\n\n\
         [policy.lockout]\nwindow_secs = 200\n\n\
         [policy.pin_lock]\nmax_failures = 0\n\n\
         [limits]\napp_per_ip = {{ burst = 0, per_secs = 60 }}\n"
    );
    let mut server_section = String::new();
    if let Some(p) = args.pool_size {
        server_section.push_str(&format!("pool_size = {p}\n"));
    }
    if args.nodes > 1 {
        // Nodes on one database must hold the same master key: the first node makes the file,
        // the others read it.
        let key = work.path().join("master.key");
        server_section.push_str(&format!(
            "master_key_file = {:?}\n",
            key.display().to_string()
        ));
    }
    if args.setup == Setup::Pskc && !args.health() {
        // A PSKC file of PSKC_CHUNK tokens is far over the default 64 KiB.
        server_section.push_str(&format!("max_body_bytes = {PSKC_MAX_BODY}\n"));
    }
    if !server_section.is_empty() {
        config.push_str(&format!("\n[server]\n{server_section}"));
    }
    std::fs::write(work.path().join("pooya.toml"), &config).map_err(|e| e.to_string())?;

    let db = match &args.database_url {
        Some(u) => Some(TempPg::create(u, "pooya_load")?),
        None => None,
    };
    let store = match &db {
        Some(d) => format!("PostgreSQL (fresh database {})", d.name()),
        None => "SQLite (embedded, in the temporary data directory)".to_owned(),
    };
    let db_url = db.as_ref().map(|d| d.url.as_str());
    let start_node = |k: usize| start_server(&bin, work.path(), k, db_url);
    let t_setup = Instant::now();
    let mut nodes = vec![start_node(0)?];
    let result = drive(&args, &mut nodes, &start_node, &store, t_setup).await;
    if let Err(e) = &result {
        eprintln!("error: {e}");
        for (k, node) in nodes.iter().enumerate() {
            eprintln!(
                "last lines of {}'s log:\n{}",
                node_name(k, args.nodes),
                node.log_tail(20)
            );
        }
    }
    for (k, node) in nodes.iter_mut().enumerate() {
        if let Some(st) = node.stop() {
            if !st.success() {
                eprintln!(
                    "{} exited with {st}; last lines of its log:\n{}",
                    node_name(k, args.nodes),
                    node.log_tail(20)
                );
            }
        }
    }
    drop(nodes);
    if let Some(db) = db {
        let name = db.name().to_owned();
        match db.remove() {
            Ok(()) => eprintln!("dropped database {name}"),
            Err(e) => eprintln!("could not drop database {name}: {e}"),
        }
    }
    result
}

/// "the server", or with several nodes "node 2" (counted from 1).
fn node_name(k: usize, nodes: usize) -> String {
    if nodes > 1 {
        format!("node {}", k + 1)
    } else {
        "the server".to_owned()
    }
}

/// The setup through `nodes[0]`, the other nodes started (`start_node(k)`, pushed onto `nodes`),
/// the load and the report.
pub async fn drive(
    args: &Args,
    nodes: &mut Vec<Server>,
    start_node: &dyn Fn(usize) -> Res<Server>,
    store: &str,
    t_setup: Instant,
) -> Res<bool> {
    let base = nodes[0].url.clone();
    let data = nodes[0].data.clone();
    let kt = std::fs::read_to_string(data.join("bootstrap-keys.json"))
        .map_err(|e| format!("bootstrap-keys.json: {e}"))?;
    let kv: Value = serde_json::from_str(&kt).map_err(|e| format!("bootstrap-keys.json: {e}"))?;
    let key = |r: &str| -> Res<String> {
        kv[r]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no {r} key in bootstrap-keys.json"))
    };
    let keys = Arc::new(Keys {
        admin: key("admin")?,
        branch: key("branch")?,
        atm: key("atm")?,
        switch: key("switch")?,
    });
    let outbox = Arc::new(Outbox::new(data.join("sms-outbox.jsonl")));
    println!("pooya-bench");
    println!("  server        {base} ({store})");
    let mut setup_detail = String::new();
    let cards = if args.health() {
        println!(
            "  load          GET /v1/health, {} connections, {} s",
            args.connections, args.seconds
        );
        Cards::Enrolled(Vec::new())
    } else {
        println!(
            "  load          {} cards ({}), {} connections, {} s, {:.0}% wrong codes",
            args.cards,
            match args.setup {
                Setup::Enroll => "app tokens: first and second passwords",
                Setup::Pskc => "TOTP hardware tokens: second passwords",
            },
            args.connections,
            args.seconds,
            args.wrong_share * 100.0
        );
        match args.setup {
            Setup::Enroll => {
                if args.cards > ENROLL_HINT_CARDS {
                    eprintln!(
                        "note: enrolling costs a few ms per card; `--setup pskc` sets up large \
                         counts much faster (hardware tokens, second passwords only)"
                    );
                }
                eprintln!("setting up {} cards (enrollment) …", args.cards);
                let t = Instant::now();
                let cards = set_up_cards(&base, keys.clone(), outbox, args.cards).await?;
                setup_detail = format!(
                    "{} registrations, ATM activations, enrollments: {:.2} ms per card",
                    args.cards,
                    per_card_ms(t.elapsed(), args.cards)
                );
                Cards::Enrolled(cards)
            }
            Setup::Pskc => {
                eprintln!(
                    "setting up {} cards (branch registration, PSKC import) …",
                    args.cards
                );
                let (cards, reg, import) =
                    set_up_hardware_cards(&base, keys.clone(), args.cards).await?;
                setup_detail = format!(
                    "{} registrations {:.2} s ({:.3} ms per card), hardware tokens imported \
                     {:.2} s ({:.3} ms per card)",
                    args.cards,
                    reg.as_secs_f64(),
                    per_card_ms(reg, args.cards),
                    import.as_secs_f64(),
                    per_card_ms(import, args.cards)
                );
                cards
            }
        }
    };

    // The other nodes, on the database the setup filled: they make no keys of their own.
    for k in 1..args.nodes {
        nodes.push(start_node(k)?);
    }
    let bases: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    if bases.len() > 1 {
        println!(
            "  nodes         {}: {} (the setup's), {}, started after the setup; worker w talks \
             to node w % {}",
            bases.len(),
            bases[0],
            bases[1..].join(", "),
            bases.len()
        );
    }

    // Stand every node's fake clock in the middle of a step: no neighbouring step is inside the
    // tolerance.
    let http = new_client(1)?;
    let v = reqwest::Client::get(&http, format!("{base}/v1/time"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json::<Value>()
        .await
        .map_err(|e| e.to_string())?;
    let now = v["unix_ms"]
        .as_i64()
        .ok_or("GET /v1/time without unix_ms")?;
    let start_ms = (now / STEP_MS + 1) * STEP_MS + STEP_MS / 2;
    let body = json!({"set_unix_ms": start_ms});
    move_clocks(&http, &bases, &keys.admin, &body, start_ms).await?;
    drop(http);
    let setup = t_setup.elapsed();
    let several = bases.len() > 1;
    let started = if several { "the nodes'" } else { "server" };
    if args.health() {
        println!(
            "  setup         {:.2} s ({} start; no cards for --target health)",
            setup.as_secs_f64(),
            started,
        );
    } else {
        println!(
            "  setup         {:.2} s in all, {} start included (--setup {}: {setup_detail})",
            setup.as_secs_f64(),
            started,
            args.setup.name(),
        );
    }

    let shared = Arc::new(Shared {
        bases,
        keys,
        cards,
        round: tokio::sync::RwLock::new(Round {
            now_ms: start_ms,
            number: 0,
        }),
        next: AtomicUsize::new(0),
        deadline: Instant::now() + Duration::from_secs_f64(args.seconds),
        wrong_share: args.wrong_share,
        health: args.health(),
    });
    let pids: Vec<Option<u32>> = nodes.iter().map(Server::pid).collect();
    let rss_of = |pid: &Option<u32>| pid.and_then(|p| memory(&p.to_string()));
    let rss_after_setup: Vec<_> = pids.iter().map(rss_of).collect();
    let ticks = clock_ticks();
    let cpu0 = cpu_snapshot(&pids);
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..args.connections)
        .map(|w| tokio::spawn(worker(w, shared.clone())))
        .collect();
    let mut total = WorkerReport::default();
    let mut failure = None;
    for t in tasks {
        match t.await.map_err(|e| format!("worker: {e}")).and_then(|r| r) {
            Ok(r) => {
                total.latencies_us.extend(r.latencies_us);
                total.other_ok += r.other_ok;
                for (k, v) in r.outcomes {
                    *total.outcomes.entry(k).or_default() += v;
                }
                for (k, v) in r.errors {
                    *total.errors.entry(k).or_default() += v;
                }
                if total.error_examples.len() < 5 {
                    total.error_examples.extend(r.error_examples);
                }
                total.clock_advances += r.clock_advances;
                total.clock_time += r.clock_time;
            }
            Err(e) => failure = Some(e),
        }
    }
    let elapsed = t0.elapsed();
    let cpu1 = cpu_snapshot(&pids);
    let rss: Vec<_> = pids.iter().map(rss_of).collect();
    let driver_rss = memory("self");
    if let Some(e) = failure {
        return Err(e);
    }

    let approved = total.latencies_us.len() as u64;
    let requests: u64 = total.outcomes.values().sum();
    let errors: u64 = total.errors.values().sum();
    let secs = elapsed.as_secs_f64();
    let mut lat = std::mem::take(&mut total.latencies_us);
    lat.sort_unstable();
    let mean = if lat.is_empty() {
        f64::NAN
    } else {
        lat.iter().map(|&x| f64::from(x)).sum::<f64>() / lat.len() as f64 / 1000.0
    };
    println!("  measured      {secs:.2} s");
    println!("  requests      {requests}");
    let what = if args.health() {
        "health answers"
    } else {
        "verifications"
    };
    let rate = approved as f64 / secs;
    println!(
        "  right         {approved} ({rate:.0} {what}/s{})",
        if args.health() { "" } else { " approved" }
    );
    if !args.health() {
        println!(
            "  declined      {} wrong codes, rightly ({:.0}/s); all right answers {:.0}/s",
            total.other_ok,
            total.other_ok as f64 / secs,
            (approved + total.other_ok) as f64 / secs
        );
    }
    println!(
        "  latency ms    p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  mean {:.2} \
         (right answers to right codes)",
        percentile(&lat, 50.0),
        percentile(&lat, 90.0),
        percentile(&lat, 99.0),
        percentile(&lat, 99.9),
        percentile(&lat, 100.0),
        mean
    );
    println!(
        "  clock moves   {} (each waits for the requests in flight; {:.3} s in all, counted in \
         the measured time)",
        total.clock_advances,
        total.clock_time.as_secs_f64()
    );
    println!("  answers");
    for (k, v) in &total.outcomes {
        println!("    {v:>9}  {k}");
    }
    println!("  errors        {errors}");
    for (k, v) in &total.errors {
        println!("    {v:>9}  {k}");
    }
    for e in &total.error_examples {
        println!("    e.g. {e}");
    }
    let cpu = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.2} s", (b.saturating_sub(a)) as f64 / ticks),
        _ => "n/a".into(),
    };
    let machine = match (cpu0.machine, cpu1.machine) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
            format!("{:.0}%", 100.0 * (b1 - b0) as f64 / (t1 - t0) as f64)
        }
        _ => "n/a".into(),
    };
    let pg = if args.database_url.is_some() {
        format!(
            ", postgres processes {:.2} s",
            cpu1.postgres.saturating_sub(cpu0.postgres) as f64 / ticks
        )
    } else {
        String::new()
    };
    // Several nodes: the servers' sum, each node's on a line of its own.
    let server = if several { "servers" } else { "server" };
    println!(
        "  CPU           {server} {}, this driver {}{pg}; machine busy {machine} of {} cores",
        cpu(cpu0.server(), cpu1.server()),
        cpu(cpu0.driver, cpu1.driver),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    // Per answer (approved or rightly declined): what one verification costs each process,
    // the accounting of BENCHMARKS.md.
    let answers = (approved + total.other_ok).max(1) as f64;
    let per = |a: Option<u64>, b: Option<u64>, unit: f64| match (a, b) {
        (Some(a), Some(b)) => format!("{:.1}", b.saturating_sub(a) as f64 * unit / answers),
        _ => "n/a".into(),
    };
    let us = 1e6 / ticks;
    let (pg_cpu, pg_written) = if args.database_url.is_some() {
        (
            format!(
                ", postgres {} µs",
                per(Some(cpu0.postgres), Some(cpu1.postgres), us)
            ),
            format!(
                ", postgres {} bytes",
                per(
                    Some(cpu0.postgres_written),
                    Some(cpu1.postgres_written),
                    1.0
                )
            ),
        )
    } else {
        (String::new(), String::new())
    };
    println!(
        "  per answer    CPU: {server} {} µs, this driver {} µs{pg_cpu}; written to storage: \
         {server} {} bytes{pg_written}",
        per(cpu0.server(), cpu1.server(), us),
        per(cpu0.driver, cpu1.driver, us),
        per(cpu0.server_written(), cpu1.server_written(), 1.0),
    );
    if several {
        let each: Vec<String> = (cpu0.servers.iter().zip(&cpu1.servers))
            .map(|(a, b)| format!("{} µs", per(*a, *b, us)))
            .collect();
        println!(
            "  per node      CPU per answer: {} (each node's CPU over all the answers: they add \
             up to the servers')",
            each.join(", ")
        );
    }
    let mib = |kib: u64| kib as f64 / 1024.0;
    // Each node's own: what one process needs is the figure that matters.
    for (k, (now, after_setup)) in rss.iter().zip(&rss_after_setup).enumerate() {
        let Some((now, peak)) = now else { continue };
        let name = if several {
            format!("node {} RSS", k + 1)
        } else {
            "server RSS".to_owned()
        };
        println!(
            "  {name:<14}{:.1} MiB at the end, {:.1} MiB at most{}",
            mib(*now),
            mib(*peak),
            after_setup.map_or(String::new(), |(s, _)| format!(
                " ({:.1} MiB {})",
                mib(s),
                if k == 0 {
                    "after the setup"
                } else {
                    "before the load"
                }
            ))
        );
    }
    if let Some((_, peak)) = driver_rss {
        println!("  driver RSS    {:.1} MiB at most", mib(peak));
    }
    if let Some(path) = &args.csv {
        use std::io::Write;
        let store_name = if args.database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        };
        let target = if args.health() { "health" } else { "verify" };
        let label = args.label.clone().unwrap_or_else(|| {
            let mut notes = Vec::new();
            if args.setup == Setup::Pskc && !args.health() {
                notes.push("hardware tokens".to_owned());
            }
            if args.nodes > 1 {
                notes.push(format!("{} nodes", args.nodes));
            }
            if notes.is_empty() {
                format!("{store_name} {target}")
            } else {
                format!("{store_name} {target} ({})", notes.join(", "))
            }
        });
        let line = format!(
            "{},{store_name},{target},{},{},{secs:.2},{rate:.0},{:.2},{:.2},{:.2},{:.2},{errors}\n",
            pooya_bench::csv_label(&label),
            if args.health() { 0 } else { args.cards },
            args.connections,
            percentile(&lat, 50.0),
            percentile(&lat, 90.0),
            percentile(&lat, 99.0),
            percentile(&lat, 99.9),
        );
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| {
                // A new file starts with the names of its fields.
                if f.metadata()?.len() == 0 {
                    writeln!(f, "# label,{}", pooya_bench::CSV_FIELDS)?;
                }
                f.write_all(line.as_bytes())
            })
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(errors == 0 && approved > 0)
}
