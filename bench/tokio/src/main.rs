//! tokio_bench: the Tokio peer of doc/bench.md ("peer":"tokio").
//!
//!     tokio_bench <bench> [--key value]...   # one workload, JSON lines on stdout
//!     tokio_bench echo_server --port P       # the `echo` server, until SIGTERM
//!     tokio_bench list                       # the workloads implemented here
//!
//! The runtime (§1.1): one multi_thread runtime with 2 workers, built before any timing.
//! The root task is `tokio::spawn`ed onto it and `block_on` only awaits the root's handle,
//! so the root is an ordinary worker task like every other (block_on's own future runs on
//! the main thread, which is not one of the 2 workers).
//!
//! No ctx_switch: it is the raw Boost.Context switch, defined for the fiber peers only.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, Mutex, Notify};
use tokio::task::JoinHandle;

const EXIT_FAILED: i32 = 1; // the workload ran but its result was wrong
const EXIT_USAGE: i32 = 2; // the command line was wrong

macro_rules! die {
    ($code:expr, $($fmt:tt)*) => {{
        eprintln!($($fmt)*);
        std::process::exit($code)
    }};
}

/// `<bench> [--key value | --key=value]...`. Every flag is looked up by the workload that
/// owns it; one that never is (a typo) is an error, as in bench_common.hpp, so that a
/// mistyped flag cannot produce a plausible but wrong number.
struct Args {
    bench: String,
    flags: Vec<(String, String, bool)>,
}

impl Args {
    fn parse() -> Args {
        let argv: Vec<String> = std::env::args().collect();
        if argv.len() < 2 || argv[1].starts_with('-') {
            die!(EXIT_USAGE, "usage: {} <bench> [--key value]...", argv[0]);
        }
        let bench = argv[1].clone();
        let mut flags: Vec<(String, String, bool)> = Vec::new();
        let mut i = 2;
        while i < argv.len() {
            let arg = &argv[i];
            if arg.len() < 3 || !arg.starts_with("--") {
                die!(EXIT_USAGE, "tokio_bench {bench}: expected a flag like --n, got '{arg}'");
            }
            let (key, value) = match arg[2..].split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => {
                    if i + 1 >= argv.len() {
                        die!(EXIT_USAGE, "tokio_bench {bench}: flag {arg} needs a value");
                    }
                    i += 1;
                    (arg[2..].to_string(), argv[i].clone())
                }
            };
            if flags.iter().any(|(k, _, _)| *k == key) {
                die!(EXIT_USAGE, "tokio_bench {bench}: flag --{key} given twice");
            }
            flags.push((key, value, false));
            i += 1;
        }
        Args { bench, flags }
    }

    fn integer(&mut self, key: &str, def: u64, min: u64) -> u64 {
        let bench = self.bench.clone();
        let Some(flag) = self.flags.iter_mut().find(|(k, _, _)| k == key) else {
            return def;
        };
        flag.2 = true;
        let v: u64 = flag.1.parse().unwrap_or_else(|_| {
            die!(EXIT_USAGE, "tokio_bench {bench}: --{key} expects an integer >= 0, got '{}'", flag.1)
        });
        if v < min {
            die!(EXIT_USAGE, "tokio_bench {bench}: --{key} must be >= {min}, got {v}");
        }
        v
    }

    fn reject_unknown(&self) {
        if let Some((key, _, _)) = self.flags.iter().find(|(_, _, used)| !used) {
            die!(EXIT_USAGE, "tokio_bench {}: unknown flag --{key}", self.bench);
        }
    }
}

#[derive(Clone, Copy)]
struct Reps {
    warmup: u64,
    reps: u64,
}

fn reps_from(args: &mut Args) -> Reps {
    Reps { warmup: args.integer("warmup", 1, 0), reps: args.integer("reps", 5, 1) }
}

/// Runs the discarded warm-up repetitions, then the measured ones; `rep` performs one
/// whole repetition and returns its per-operation value.
async fn run_reps<F, Fut>(reps: Reps, mut rep: F) -> Vec<f64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = f64>,
{
    for _ in 0..reps.warmup {
        rep().await;
    }
    let mut samples = Vec::with_capacity(reps.reps as usize);
    for _ in 0..reps.reps {
        samples.push(rep().await);
    }
    samples
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

fn json_number(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "null".to_string()
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One result line (§1.2), and nothing else on stdout.
struct Result {
    n: u64,
    samples: Vec<f64>,
    unit: &'static str,
    note: String,
}

fn emit(bench: &str, r: &Result) {
    let samples: Vec<String> = r.samples.iter().map(|&s| json_number(s)).collect();
    println!(
        "{{\"peer\":\"tokio\",\"bench\":{},\"n\":{},\"median\":{},\"unit\":{},\"samples\":[{}],\"note\":{}}}",
        json_string(bench),
        r.n,
        json_number(median(&r.samples)),
        json_string(r.unit),
        samples.join(","),
        json_string(&r.note)
    );
}

fn per_op(t0: Instant, n: u64) -> f64 {
    t0.elapsed().as_nanos() as f64 / n as f64
}

async fn spawn_many(n: u64, reps: Reps) -> Result {
    let samples = run_reps(reps, || async move {
        let count = Arc::new(AtomicU64::new(0));
        let done = Arc::new(Notify::new());
        let t0 = Instant::now();
        for _ in 0..n {
            let (count, done) = (count.clone(), done.clone());
            tokio::spawn(async move {
                if count.fetch_add(1, Ordering::AcqRel) + 1 == n {
                    done.notify_one(); // stores a permit if the root is not waiting yet
                }
            });
        }
        done.notified().await;
        let v = per_op(t0, n);
        if count.load(Ordering::Acquire) != n {
            die!(EXIT_FAILED, "spawn_many: count {}, expected {n}", count.load(Ordering::Acquire));
        }
        v
    })
    .await;
    Result { n, samples, unit: "ns/task", note: "detached tasks, the last one notifies a tokio::sync::Notify".into() }
}

async fn spawn_join(n: u64, reps: Reps) -> Result {
    let samples = run_reps(reps, || async move {
        let t0 = Instant::now();
        let mut handles: Vec<JoinHandle<u64>> = Vec::with_capacity(n as usize);
        for i in 0..n {
            handles.push(tokio::spawn(async move { i }));
        }
        let mut sum = 0u64;
        for h in handles {
            sum += h.await.unwrap_or_else(|e| die!(EXIT_FAILED, "spawn_join: {e}"));
        }
        let v = per_op(t0, n);
        if sum != n * (n - 1) / 2 {
            die!(EXIT_FAILED, "spawn_join: sum {sum}, expected {}", n * (n - 1) / 2);
        }
        v
    })
    .await;
    Result { n, samples, unit: "ns/task", note: "JoinHandle<u64> awaited in spawn order".into() }
}

/// Task `d` of a chain: spawns task d+1 and returns without waiting. A plain function
/// that spawns (not a recursive async fn), so the future type stays finite.
fn chain_link(d: u64, depth: u64, done: Arc<Notify>, reached: Arc<AtomicU64>) {
    tokio::spawn(async move {
        if d == depth {
            reached.store(d, Ordering::Release);
            done.notify_one();
        } else {
            chain_link(d + 1, depth, done, reached);
        }
    });
}

async fn chained_spawn(depth: u64, chains: u64, reps: Reps) -> Result {
    let samples = run_reps(reps, || async move {
        let done = Arc::new(Notify::new());
        let reached = Arc::new(AtomicU64::new(0));
        let t0 = Instant::now();
        for c in 0..chains {
            chain_link(1, depth, done.clone(), reached.clone());
            done.notified().await;
            let last = reached.swap(0, Ordering::AcqRel);
            if last != depth {
                die!(EXIT_FAILED, "chained_spawn: chain {c} ended at depth {last}, expected {depth}");
            }
        }
        per_op(t0, depth * chains)
    })
    .await;
    Result {
        n: depth * chains,
        samples,
        unit: "ns/spawn",
        note: "detached tasks, the last of a chain notifies a tokio::sync::Notify".into(),
    }
}

async fn yield_many(tasks: u64, yields: u64, reps: Reps) -> Result {
    let samples = run_reps(reps, || async move {
        let total = Arc::new(AtomicU64::new(0));
        let t0 = Instant::now();
        let mut handles = Vec::with_capacity(tasks as usize);
        for _ in 0..tasks {
            let total = total.clone();
            handles.push(tokio::spawn(async move {
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
                total.fetch_add(yields, Ordering::Relaxed);
            }));
        }
        for h in handles {
            h.await.unwrap_or_else(|e| die!(EXIT_FAILED, "yield_many: {e}"));
        }
        let v = per_op(t0, tasks * yields);
        if total.load(Ordering::Relaxed) != tasks * yields {
            die!(EXIT_FAILED, "yield_many: {} yields, expected {}", total.load(Ordering::Relaxed), tasks * yields);
        }
        v
    })
    .await;
    Result { n: tasks * yields, samples, unit: "ns/yield", note: "tokio::task::yield_now".into() }
}

async fn ping_pong(pairs: u64, rounds: u64, reps: Reps) -> Result {
    let samples = run_reps(reps, || async move {
        let completed = Arc::new(AtomicU64::new(0));
        let t0 = Instant::now();
        let mut handles = Vec::with_capacity(2 * pairs as usize);
        for _ in 0..pairs {
            let (tx1, mut rx1) = mpsc::channel::<u64>(1); // c1: A -> B
            let (tx2, mut rx2) = mpsc::channel::<u64>(1); // c2: B -> A
            let completed = completed.clone();
            handles.push(tokio::spawn(async move {
                // A
                for r in 0..rounds {
                    if tx1.send(r).await.is_err() {
                        die!(EXIT_FAILED, "ping_pong: c1 closed in round {r}");
                    }
                    match rx2.recv().await {
                        Some(back) if back == r => {}
                        other => die!(EXIT_FAILED, "ping_pong: round {r} came back as {other:?}"),
                    }
                }
                completed.fetch_add(rounds, Ordering::Relaxed);
            }));
            handles.push(tokio::spawn(async move {
                // B
                for r in 0..rounds {
                    let Some(v) = rx1.recv().await else {
                        die!(EXIT_FAILED, "ping_pong: c1 closed in round {r}");
                    };
                    if tx2.send(v).await.is_err() {
                        die!(EXIT_FAILED, "ping_pong: c2 closed in round {r}");
                    }
                }
            }));
        }
        for h in handles {
            h.await.unwrap_or_else(|e| die!(EXIT_FAILED, "ping_pong: {e}"));
        }
        let v = per_op(t0, pairs * rounds);
        if completed.load(Ordering::Relaxed) != pairs * rounds {
            die!(EXIT_FAILED, "ping_pong: {} round trips, expected {}", completed.load(Ordering::Relaxed), pairs * rounds);
        }
        v
    })
    .await;
    Result {
        n: pairs * rounds,
        samples,
        unit: "ns/roundtrip",
        note: "tokio::sync::mpsc::channel(1) (bounded, capacity 1)".into(),
    }
}

async fn mutex_contended(tasks: u64, locks: u64, reps: Reps) -> Result {
    let samples = run_reps(reps, || async move {
        let counter = Arc::new(Mutex::new(0u64)); // the plain u64, guarded by the mutex
        let t0 = Instant::now();
        let mut handles = Vec::with_capacity(tasks as usize);
        for _ in 0..tasks {
            let counter = counter.clone();
            handles.push(tokio::spawn(async move {
                for _ in 0..locks {
                    *counter.lock().await += 1;
                }
            }));
        }
        for h in handles {
            h.await.unwrap_or_else(|e| die!(EXIT_FAILED, "mutex_contended: {e}"));
        }
        let v = per_op(t0, tasks * locks);
        let got = *counter.lock().await;
        if got != tasks * locks {
            die!(EXIT_FAILED, "mutex_contended: counter {got}, expected {}", tasks * locks);
        }
        v
    })
    .await;
    Result { n: tasks * locks, samples, unit: "ns/lock", note: "tokio::sync::Mutex<u64> (fair, FIFO)".into() }
}

async fn sleep_many(n: u64, sleep_ms: u64, reps: Reps) -> Result {
    let sleep = Duration::from_millis(sleep_ms);
    let samples = run_reps(reps, || async move {
        let count = Arc::new(AtomicU64::new(0));
        let done = Arc::new(Notify::new());
        let t0 = Instant::now();
        for _ in 0..n {
            let (count, done) = (count.clone(), done.clone());
            tokio::spawn(async move {
                tokio::time::sleep(sleep).await;
                if count.fetch_add(1, Ordering::AcqRel) + 1 == n {
                    done.notify_one();
                }
            });
        }
        done.notified().await;
        let wall = t0.elapsed().as_nanos() as f64;
        if count.load(Ordering::Acquire) != n {
            die!(EXIT_FAILED, "sleep_many: count {}, expected {n}", count.load(Ordering::Acquire));
        }
        (wall - sleep.as_nanos() as f64) / n as f64
    })
    .await;
    Result { n, samples, unit: "ns/task", note: "tokio::time::sleep".into() }
}

/// VmRSS from /proc/self/status in bytes (the source the spec fixes).
fn vm_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_else(|e| die!(EXIT_FAILED, "cannot read /proc/self/status: {e}"));
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix("VmRSS:") {
            let kib: u64 = rest.trim().trim_end_matches(" kB").trim().parse()
                .unwrap_or_else(|_| die!(EXIT_FAILED, "bad VmRSS line {line:?}"));
            return kib * 1024;
        }
    }
    die!(EXIT_FAILED, "no VmRSS line in /proc/self/status")
}

async fn idle_memory(n: u64, reps: Reps) -> Result {
    let base = vm_rss();
    let peak = Arc::new(AtomicU64::new(0));
    let peak_in = peak.clone();
    let samples = run_reps(reps, move || {
        let peak = peak_in.clone();
        async move {
            let ready = Arc::new(AtomicU64::new(0));
            let released = Arc::new(AtomicU64::new(0));
            let all_blocked = Arc::new(Notify::new());
            // The root keeps the N senders and N handles, as the spec asks.
            let mut senders: Vec<oneshot::Sender<u32>> = Vec::with_capacity(n as usize);
            let mut handles: Vec<JoinHandle<()>> = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let (tx, rx) = oneshot::channel::<u32>();
                senders.push(tx);
                let (ready, released, all_blocked) = (ready.clone(), released.clone(), all_blocked.clone());
                handles.push(tokio::spawn(async move {
                    if ready.fetch_add(1, Ordering::AcqRel) + 1 == n {
                        all_blocked.notify_one();
                    }
                    if rx.await == Ok(7) {
                        released.fetch_add(1, Ordering::Relaxed);
                    }
                }));
            }
            all_blocked.notified().await;
            let rss = vm_rss();
            peak.fetch_max(rss, Ordering::Relaxed);
            for tx in senders {
                if tx.send(7).is_err() {
                    die!(EXIT_FAILED, "idle_memory: a receiver was gone");
                }
            }
            for h in handles {
                h.await.unwrap_or_else(|e| die!(EXIT_FAILED, "idle_memory: {e}"));
            }
            if released.load(Ordering::Relaxed) != n {
                die!(EXIT_FAILED, "idle_memory: {} tasks released, expected {n}", released.load(Ordering::Relaxed));
            }
            (rss as f64 - base as f64) / n as f64
        }
    })
    .await;
    let note = format!(
        "each task blocked on its own tokio::sync::oneshot; base VmRSS {:.1} MiB, peak {:.1} MiB",
        base as f64 / 1048576.0,
        peak.load(Ordering::Relaxed) as f64 / 1048576.0
    );
    Result { n, samples, unit: "bytes/task", note }
}

fn process_cpu_ns() -> u64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let ns = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1000;
    ns(ru.ru_utime) + ns(ru.ru_stime)
}

/// Not a doc/bench.md workload: the "an idle runtime uses ~0 % CPU". The main thread
/// sleeps (it is not a worker) while the idle 2-worker runtime exists.
fn idle_cpu(rt: &tokio::runtime::Runtime, seconds: u64, reps: Reps) -> Result {
    rt.block_on(async { tokio::spawn(async {}).await.ok() }); // both workers have started
    let one = || {
        let (c0, t0) = (process_cpu_ns(), Instant::now());
        std::thread::sleep(Duration::from_secs(seconds));
        100.0 * (process_cpu_ns() - c0) as f64 / t0.elapsed().as_nanos() as f64
    };
    for _ in 0..reps.warmup {
        one();
    }
    let samples = (0..reps.reps).map(|_| one()).collect();
    Result {
        n: seconds,
        samples,
        unit: "% of a core",
        note: "process CPU (getrusage) while an idle 2-worker runtime exists; n = seconds per sample".into(),
    }
}

async fn serve_connection(mut s: tokio::net::TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return, // EOF or reset: this connection is over, the server is not
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Serves 127.0.0.1:P (§1.3 echo) until SIGTERM or SIGINT, then exits 0.
async fn echo_server(port: u16) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).unwrap_or_else(|e| die!(EXIT_FAILED, "echo_server: {e}"));
    let mut int = signal(SignalKind::interrupt()).unwrap_or_else(|e| die!(EXIT_FAILED, "echo_server: {e}"));
    tokio::spawn(async move {
        int.recv().await;
        std::process::exit(0);
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| die!(EXIT_FAILED, "echo_server: bind 127.0.0.1:{port}: {e}"));
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else { continue };
            if s.set_nodelay(true).is_err() {
                continue; // already reset by the peer
            }
            tokio::spawn(serve_connection(s));
        }
    });
    term.recv().await;
    std::process::exit(0);
}

const WORKLOADS: &[&str] = &[
    "spawn_many", "spawn_join", "chained_spawn", "yield_many", "ping_pong",
    "mutex_contended", "sleep_many", "idle_memory", "idle_cpu",
];

fn main() {
    let mut args = Args::parse();
    let bench = args.bench.clone();
    if bench == "list" {
        for w in WORKLOADS {
            println!("{w}");
        }
        println!("echo");
        return;
    }
    if bench != "echo_server" && !WORKLOADS.contains(&bench.as_str()) {
        die!(EXIT_USAGE, "tokio_bench: unknown bench '{bench}' (implemented: echo_server {})", WORKLOADS.join(" "));
    }
    // Flags first, so that a bad command line exits 2 before the runtime exists.
    let mut reps = Reps { warmup: 1, reps: 5 };
    let mut b = 0u64;
    let a: u64;
    match bench.as_str() {
        "echo_server" => {
            a = args.integer("port", 0, 1);
            if a > 65535 {
                die!(EXIT_USAGE, "tokio_bench echo_server: --port {a} is not a TCP port");
            }
        }
        "spawn_many" | "spawn_join" | "idle_memory" => a = args.integer("n", 100000, 1),
        "chained_spawn" => (a, b) = (args.integer("depth", 1000, 1), args.integer("chains", 100, 1)),
        "yield_many" => (a, b) = (args.integer("tasks", 200, 1), args.integer("yields", 1000, 1)),
        "ping_pong" => (a, b) = (args.integer("pairs", 100, 1), args.integer("rounds", 1000, 1)),
        "mutex_contended" => (a, b) = (args.integer("tasks", 1000, 1), args.integer("locks", 1000, 1)),
        "sleep_many" => (a, b) = (args.integer("n", 100000, 1), args.integer("sleep-ms", 10, 0)),
        "idle_cpu" => a = args.integer("seconds", 5, 1),
        _ => unreachable!(),
    }
    if bench != "echo_server" {
        reps = reps_from(&mut args);
    }
    args.reject_unknown();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| die!(EXIT_FAILED, "tokio_bench: cannot build the runtime: {e}"));
    if bench == "idle_cpu" {
        emit(&bench, &idle_cpu(&rt, a, reps));
        return;
    }
    let name = bench.clone();
    // The root is a spawned task (§1.1); block_on only waits for it.
    let root = rt.spawn(async move {
        match name.as_str() {
            "echo_server" => {
                echo_server(a as u16).await;
                unreachable!()
            }
            "spawn_many" => spawn_many(a, reps).await,
            "spawn_join" => spawn_join(a, reps).await,
            "chained_spawn" => chained_spawn(a, b, reps).await,
            "yield_many" => yield_many(a, b, reps).await,
            "ping_pong" => ping_pong(a, b, reps).await,
            "mutex_contended" => mutex_contended(a, b, reps).await,
            "sleep_many" => sleep_many(a, b, reps).await,
            "idle_memory" => idle_memory(a, reps).await,
            _ => unreachable!(),
        }
    });
    let result = rt.block_on(root).unwrap_or_else(|e| die!(EXIT_FAILED, "tokio_bench {bench}: root task: {e}"));
    emit(&bench, &result);
}
