//! Drawing apply's progress: the only place that knows about indicatif.
//!
//! The library reports, the CLI draws (uv's `Reporter`): `apply` calls [`Hooks`] and never
//! prints, this module turns those events into output on stderr (stdout stays for reports).
//! Bars only make sense on a terminal, so there are three modes: [`ProgressMode::Bars`] (a
//! TTY: one bar per transfer, cleared at the end and replaced by one summary line, as xh
//! does), [`ProgressMode::Lines`] (CI logs: no cursor tricks, a plain progress line per
//! transfer every few seconds plus the summary) and [`ProgressMode::Quiet`] (only failed
//! steps). The line interval and the clock are fields, so Lines mode is tested without sleeping.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::apply::{Entry, Hooks, Outcome, TransferProgress};

/// How often Lines mode reports a running transfer.
const LINE_INTERVAL: Duration = Duration::from_secs(5);
const BAR: &str =
    "{prefix:.bold} [{bar:30.cyan/blue}] {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta})";
const SPINNER: &str = "{spinner:.cyan} {prefix:.bold} {bytes} ({bytes_per_sec})";

/// Where lines go; a `Mutex` so lines from concurrent tasks never interleave.
pub(crate) type Sink = Arc<Mutex<Box<dyn Write + Send>>>;
/// The time source, injectable for tests.
pub(crate) type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProgressMode {
    /// stderr is a terminal: indicatif bars.
    Bars,
    /// stderr is a log (CI): plain lines every few seconds.
    Lines,
    /// `--quiet`: nothing but failed steps.
    Quiet,
}

impl ProgressMode {
    /// Nothing when quiet, else bars on a terminal and lines otherwise.
    pub(crate) fn detect(quiet: bool) -> Self {
        match (quiet, std::io::stderr().is_terminal()) {
            (true, _) => Self::Quiet,
            (false, true) => Self::Bars,
            (false, false) => Self::Lines,
        }
    }
}

/// The hooks `apply` gets from the CLI, drawing to stderr.
pub(crate) fn hooks(mode: ProgressMode) -> Arc<dyn Hooks> {
    let stderr: Sink = Arc::new(Mutex::new(Box::new(std::io::stderr())));
    Arc::new(Progress::new(mode, stderr))
}

/// [`Hooks`] that draw bars or write lines, depending on the mode.
pub(crate) struct Progress {
    mode: ProgressMode,
    /// Bars mode only, and only while its target is drawn; otherwise lines go to `out`.
    bars: Option<MultiProgress>,
    out: Sink,
    interval: Duration,
    clock: Clock,
}

impl Progress {
    pub(crate) fn new(mode: ProgressMode, out: Sink) -> Self {
        let bars = (mode == ProgressMode::Bars)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
            .filter(|multi| !multi.is_hidden());
        Self {
            mode,
            bars,
            out,
            interval: LINE_INTERVAL,
            clock: Arc::new(Instant::now),
        }
    }

    /// Replaces the Lines mode interval and the clock (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn with_clock(self, interval: Duration, clock: Clock) -> Self {
        Self {
            interval,
            clock,
            ..self
        }
    }
}

impl Hooks for Progress {
    fn transfer_started(&self, label: &str, total: Option<u64>) -> Box<dyn TransferProgress> {
        if self.mode == ProgressMode::Quiet {
            return Box::new(Silent);
        }
        let bar = self.bars.as_ref().map(|multi| {
            let bar = match total {
                Some(total) => ProgressBar::new(total).with_style(style(BAR)),
                None => ProgressBar::no_length().with_style(style(SPINNER)),
            };
            let bar = multi.add(bar.with_prefix(label.to_owned()));
            bar.enable_steady_tick(Duration::from_millis(120));
            (bar, multi.clone())
        });
        let started = (self.clock)();
        Box::new(Running {
            label: label.to_owned(),
            total,
            bar,
            out: self.out.clone(),
            interval: self.interval,
            clock: self.clock.clone(),
            started,
            state: Mutex::new(State {
                bytes: 0,
                last_bytes: 0,
                last: started,
            }),
            done: AtomicBool::new(false),
        })
    }

    fn step_finished(&self, cloud: &str, entry: &Entry) {
        let failed = matches!(entry.outcome, Outcome::Failed { .. });
        match (&self.bars, self.mode) {
            (_, ProgressMode::Quiet) if !failed => {}
            (Some(multi), _) => {
                let _ = multi.println(step_line(cloud, entry, false));
            }
            (None, _) => write_line(&self.out, &step_line(cloud, entry, true)),
        }
    }
}

/// A transfer shown as nothing (Quiet mode).
struct Silent;

impl TransferProgress for Silent {}

/// One transfer: an indicatif bar when `bar` is set, else a line at most every `interval`.
struct Running {
    label: String,
    total: Option<u64>,
    bar: Option<(ProgressBar, MultiProgress)>,
    out: Sink,
    interval: Duration,
    clock: Clock,
    started: Instant,
    state: Mutex<State>,
    done: AtomicBool,
}

struct State {
    bytes: u64,
    /// Bytes and time at the last line, for the current rate.
    last_bytes: u64,
    last: Instant,
}

impl TransferProgress for Running {
    fn advance(&self, bytes: u64) {
        if let Some((bar, _)) = &self.bar {
            bar.inc(bytes);
            // `total` is the upstream length; decompressed bytes can exceed it: become a spinner.
            if bar.length().is_some_and(|len| bar.position() > len) {
                bar.unset_length();
                bar.set_style(style(SPINNER));
            }
        }
        let now = (self.clock)();
        let mut state = lock(&self.state);
        state.bytes = state.bytes.saturating_add(bytes);
        let since = now.saturating_duration_since(state.last);
        if self.bar.is_none() && since >= self.interval {
            let rate = rate(state.bytes - state.last_bytes, since);
            (state.last, state.last_bytes) = (now, state.bytes);
            let line = progress_line(&self.label, state.bytes, self.total, rate);
            // Written under the state lock so one transfer's lines stay in order.
            write_line(&self.out, &line);
        }
    }

    fn finish(&self, ok: bool) {
        if self.done.swap(true, Ordering::AcqRel) {
            return;
        }
        let elapsed = (self.clock)().saturating_duration_since(self.started);
        let summary = summary_line(&self.label, lock(&self.state).bytes, elapsed, ok);
        match &self.bar {
            Some((bar, multi)) => {
                bar.finish_and_clear();
                multi.remove(bar);
                let _ = multi.println(summary);
            }
            None => write_line(&self.out, &summary),
        }
    }
}

impl Drop for Running {
    /// A transfer dropped without `finish` ended early: it failed.
    fn drop(&mut self) {
        self.finish(false);
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// A mutex is only poisoned by a panic elsewhere; the data (a counter, a writer) is still fine.
fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Output is best effort: a closed stderr must not fail an upload.
fn write_line(out: &Sink, line: &str) {
    let _ = writeln!(lock(out), "{line}");
}

/// Bytes per second, `None` when no time passed.
fn rate(bytes: u64, elapsed: Duration) -> Option<u64> {
    (!elapsed.is_zero()).then(|| (bytes as f64 / elapsed.as_secs_f64()) as u64)
}

/// `label: 512.00 MiB / 2.00 GiB (25%), 180.00 MiB/s`; no total when unknown or exceeded.
fn progress_line(label: &str, bytes: u64, total: Option<u64>, rate: Option<u64>) -> String {
    let mut line = format!("{label}: {}", HumanBytes(bytes));
    if let Some(total) = total.filter(|&total| total > 0 && total >= bytes) {
        let percent = u128::from(bytes) * 100 / u128::from(total);
        let _ = write!(line, " / {} ({percent}%)", HumanBytes(total));
    }
    if let Some(rate) = rate {
        let _ = write!(line, ", {}/s", HumanBytes(rate));
    }
    line
}

/// `label: 1.20 GiB in 8.0s (150.00 MiB/s)` or `label: failed after 300.00 MiB`.
fn summary_line(label: &str, bytes: u64, elapsed: Duration, ok: bool) -> String {
    if !ok {
        return format!("{label}: failed after {}", HumanBytes(bytes));
    }
    let mut line = format!("{label}: {} in {}", HumanBytes(bytes), wall(elapsed));
    if let Some(rate) = rate(bytes, elapsed) {
        let _ = write!(line, " ({}/s)", HumanBytes(rate));
    }
    line
}

/// `0.4s`, `8.0s`, `42s`, `3m05s`, `1h02m`.
fn wall(elapsed: Duration) -> String {
    match elapsed.as_secs() {
        0..10 => format!("{:.1}s", elapsed.as_secs_f64()),
        secs @ 10..60 => format!("{secs}s"),
        secs @ 60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        secs => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// One finished step: `✓ member: create Ubuntu 24.04 (id 1234abcd…) 2.00 GiB in 8.0s` on a
/// terminal; in logs (`words`) a word marker (`FAILED` is what people grep for) and full ids.
fn step_line(cloud: &str, entry: &Entry, words: bool) -> String {
    let (symbol, word, text) = match &entry.outcome {
        Outcome::Done => ("✓", "ok", None),
        Outcome::Failed { error } => ("✗", "FAILED", Some(error)),
        Outcome::Skipped { reason } => ("-", "skipped", Some(reason)),
        Outcome::InUse { message } => ("!", "in use", Some(message)),
    };
    let marker = if words {
        format!("{word:<7}")
    } else {
        symbol.to_owned()
    };
    let mut line = format!("{marker} {cloud}: {} {}", entry.action, entry.name);
    match &entry.image_id {
        Some(id) if !words && id.chars().count() > 8 => {
            let _ = write!(line, " (id {}…)", id.chars().take(8).collect::<String>());
        }
        Some(id) => {
            let _ = write!(line, " (id {id})");
        }
        None => {}
    }
    if let Some(project) = &entry.member {
        let _ = write!(line, " for project {project}");
    }
    let _ = match (text, &entry.transfer) {
        (None, Some(transfer)) => {
            let size = HumanBytes(transfer.bytes);
            let from = match &transfer.fallback {
                Some(why) => format!(" (from url: {})", crate::redact::text(why)),
                None => String::new(),
            };
            write!(line, " {size} in {}{from}", wall(entry.duration))
        }
        (None, None) => Ok(()),
        // After a symbol, skipped and in use are spelled out; a word marker already says so.
        (Some(text), _) if words || matches!(entry.outcome, Outcome::Failed { .. }) => {
            write!(line, ": {text}")
        }
        (Some(text), _) => write!(line, ": {word}: {text}"),
    };
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{SourceKind, Transfer};
    use crate::plan::{ActionKind, Phase, Way};

    const MIB: u64 = 1 << 20;
    const ID: &str = "(id 12345678-aaaa-bbbb-cccc-1234567890ab)";

    /// A sink the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn lines(&self) -> Vec<String> {
            let text = String::from_utf8(lock(&self.0).clone()).unwrap();
            text.lines().map(String::from).collect()
        }
    }

    /// A `Progress` writing to a capture, with a clock the test sets (in seconds).
    fn progress(mode: ProgressMode) -> (Progress, Captured, impl Fn(u64)) {
        let captured = Captured::default();
        let start = Instant::now();
        let now = Arc::new(Mutex::new(start));
        let clock = now.clone();
        let progress = Progress::new(mode, Arc::new(Mutex::new(Box::new(captured.clone()))))
            .with_clock(LINE_INTERVAL, Arc::new(move || *lock(&clock)));
        let at = move |secs| *lock(&now) = start + Duration::from_secs(secs);
        (progress, captured, at)
    }

    /// One step per outcome: a create with its transfer, a failure, a skip (no id), in use.
    fn steps() -> [Entry; 4] {
        let entry = |action, outcome| Entry {
            phase: Phase::Upload,
            action,
            identity: None,
            image_id: Some("12345678-aaaa-bbbb-cccc-1234567890ab".into()),
            name: "Ubuntu 24.04".into(),
            outcome,
            duration: Duration::from_secs(8),
            transfer: None,
            member: None,
        };
        let mut done = entry(ActionKind::Create, Outcome::Done);
        done.transfer = Some(Transfer {
            method: Way::GlanceDirect,
            source: SourceKind::MirrorUrl,
            fallback: None,
            bytes: 2048 * MIB,
            digests: Default::default(),
            timings: Default::default(),
        });
        let mut skipped = entry(ActionKind::Delete, Outcome::Skipped { reason: "r".into() });
        skipped.image_id = None;
        let (failed, message) = (Outcome::Failed { error: "e".into() }, "i".into());
        [
            done,
            entry(ActionKind::Update, failed),
            skipped,
            entry(ActionKind::Delete, Outcome::InUse { message }),
        ]
    }

    #[test]
    fn lines_mode_reports_every_interval_then_a_summary() {
        let (progress, out, at) = progress(ProgressMode::Lines);
        let transfer = progress.transfer_started("img", Some(2048 * MIB));
        for (secs, mib) in [(1, 256), (5, 256), (6, 1), (10, 511)] {
            at(secs);
            transfer.advance(mib * MIB);
        }
        at(16);
        transfer.finish(true);
        drop(transfer);
        let expected = [
            "img: 512.00 MiB / 2.00 GiB (25%), 102.40 MiB/s",
            "img: 1.00 GiB / 2.00 GiB (50%), 102.40 MiB/s",
            "img: 1.00 GiB in 16s (64.00 MiB/s)",
        ];
        assert_eq!(out.lines(), expected);
    }

    #[test]
    fn failed_abandoned_and_unknown_size_transfers() {
        let (progress, out, _) = progress(ProgressMode::Lines);
        let failed = progress.transfer_started("a", None);
        failed.advance(300 * MIB);
        failed.finish(false);
        drop(failed);
        let dropped = progress.transfer_started("b", Some(MIB));
        dropped.advance(512);
        drop(dropped);
        let expected = ["a: failed after 300.00 MiB", "b: failed after 512 B"];
        assert_eq!(out.lines(), expected);
        let unknown = progress_line("c", 10 * MIB, None, Some(2 * MIB));
        assert_eq!(unknown, "c: 10.00 MiB, 2.00 MiB/s");
        let exceeded = progress_line("c", 10 * MIB, Some(MIB), None);
        assert_eq!(exceeded, "c: 10.00 MiB");
    }

    #[test]
    fn lines_mode_prints_every_step_with_word_markers() {
        let (progress, out, _) = progress(ProgressMode::Lines);
        steps()
            .iter()
            .for_each(|step| progress.step_finished("m", step));
        let expected = [
            format!("ok      m: create Ubuntu 24.04 {ID} 2.00 GiB in 8.0s"),
            format!("FAILED  m: update Ubuntu 24.04 {ID}: e"),
            "skipped m: delete Ubuntu 24.04: r".to_owned(),
            format!("in use  m: delete Ubuntu 24.04 {ID}: i"),
        ];
        assert_eq!(out.lines(), expected);
    }

    #[test]
    fn quiet_mode_prints_only_failures() {
        let (progress, out, _) = progress(ProgressMode::Quiet);
        let transfer = progress.transfer_started("img", Some(MIB));
        transfer.advance(MIB);
        transfer.finish(false);
        drop(transfer);
        steps()
            .iter()
            .for_each(|step| progress.step_finished("m", step));
        assert_eq!(
            out.lines(),
            [format!("FAILED  m: update Ubuntu 24.04 {ID}: e")]
        );
    }

    #[test]
    fn terminal_lines_use_symbols_and_short_ids() {
        let lines = steps().map(|step| step_line("m", &step, false));
        let expected = [
            "✓ m: create Ubuntu 24.04 (id 12345678…) 2.00 GiB in 8.0s",
            "✗ m: update Ubuntu 24.04 (id 12345678…): e",
            "- m: delete Ubuntu 24.04: skipped: r",
            "! m: delete Ubuntu 24.04 (id 12345678…): in use: i",
        ];
        assert_eq!(lines, expected);
        let mut shared = steps()[0].clone();
        (shared.action, shared.transfer) = (ActionKind::AddMember, None);
        shared.member = Some("ab23".into());
        assert_eq!(
            step_line("m", &shared, false),
            "✓ m: add member Ubuntu 24.04 (id 12345678…) for project ab23"
        );
    }

    #[test]
    fn a_fallback_from_the_mirror_is_named_in_the_step_line() {
        let mut step = steps()[0].clone();
        if let Some(transfer) = &mut step.transfer {
            transfer.source = SourceKind::Url;
            transfer.fallback =
                Some("mirror_url failed: GET https://m/x.img?sig=s: HTTP 404".into());
        }
        assert_eq!(
            step_line("m", &step, true),
            format!(
                "ok      m: create Ubuntu 24.04 {ID} 2.00 GiB in 8.0s (from url: mirror_url \
                 failed: GET https://m/x.img?sig=REDACTED: HTTP 404)"
            )
        );
    }

    #[test]
    fn wall_times_and_templates() {
        let walls = [400, 42_000, 185_000, 3_720_000].map(|ms| wall(Duration::from_millis(ms)));
        assert_eq!(walls, ["0.4s", "42s", "3m05s", "1h02m"]);
        assert!(ProgressStyle::with_template(BAR).is_ok());
        assert!(ProgressStyle::with_template(SPINNER).is_ok());
    }
}
