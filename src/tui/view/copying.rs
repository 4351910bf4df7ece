//! The copying screen: where from and to, gauges by bytes and by files, speed,
//! ETA, the throughput chart, one lane per worker, recent files and errors.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Sparkline, Widget};

use super::widgets::{Canvas, bar, problem_line, window};
use crate::format::{self, DisplayPath, ellipsize_path};
use crate::summary::Eta;
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::keys::{self, Context};

pub fn draw(app: &App, area: Rect, c: &mut Canvas<'_>) {
    let p = &app.progress;
    let copying = p.lanes.iter().any(|l| l.current.is_some());
    let state = match (app.paused, p.cancelled) {
        _ if p.flushing.is_some() => "Writing to device",
        (false, false) if !copying && p.verifying().0 > 0 => "Verifying",
        (_, true) => "Cancelling…",
        (true, _) => "Paused",
        _ => "Copying",
    };
    let limit = p.bwlimit.map_or_else(String::new, |r| {
        format!(" · limit {}", format::rate(r as f64))
    });
    let block = window(format!(" convoy — {state}{limit} "), &c.theme);
    let inner = block.inner(area);
    block.render(area, c.buf);
    let [from, to, g1, g2, stats, spark, lanes, errors, btns] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(4),
        Constraint::Min(3),
        Constraint::Length(if p.failed > 0 { 4 } else { 3 }),
        Constraint::Length(1),
    ])
    .areas(inner);
    let w = inner.width.saturating_sub(8) as usize;
    for (row, label, path) in [(from, "From", &app.source), (to, "To", &app.dest)] {
        c.buf.set_string(row.x + 1, row.y, label, c.theme.accent());
        let shown = ellipsize_path(&path.display().to_string(), w);
        c.buf.set_string(row.x + 7, row.y, shown, Style::new());
    }
    gauges(app, g1, g2, c);
    stats_line(app, stats, c);
    throughput(app, spark, c);
    if app.queue.waiting.is_empty() && app.queue.finished.is_empty() {
        let [lanes_area, log_area] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(lanes);
        workers(app, lanes_area, c);
        recent(app, log_area, c);
    } else {
        let [lanes_area, log_area, jobs_area] = Layout::horizontal([
            Constraint::Percentage(42),
            Constraint::Percentage(28),
            Constraint::Percentage(30),
        ])
        .areas(lanes);
        workers(app, lanes_area, c);
        recent(app, log_area, c);
        jobs(app, jobs_area, c);
    }
    errors_box(app, errors, c);

    let t = &c.theme;
    let pause = if app.paused { "Resume" } else { "Pause" };
    let mut items = vec![
        (
            keys::label(Context::Copying, Action::TogglePause, pause),
            Action::TogglePause,
            t.accent(),
        ),
        (
            keys::label(Context::Copying, Action::AskCancel, "Cancel"),
            Action::AskCancel,
            Style::new(),
        ),
    ];
    if !app.conflicts.is_empty() {
        items.push((
            keys::label(Context::Copying, Action::ShowConflicts, "Conflicts"),
            Action::ShowConflicts,
            t.warn(),
        ));
    }
    items.push((
        keys::label(Context::Copying, Action::QueueCopy, "Queue"),
        Action::QueueCopy,
        Style::new(),
    ));
    let fewer = keys::keys_text(Context::Copying, &[Action::FewerWorkers]);
    let more = keys::keys_text(Context::Copying, &[Action::MoreWorkers]);
    items.push((
        format!("{fewer} worker"),
        Action::FewerWorkers,
        Style::new(),
    ));
    items.push((format!("{more} worker"), Action::MoreWorkers, Style::new()));
    let limit = |action, text| (keys::label(Context::Copying, action, text), action);
    let (slower, faster) = (
        limit(Action::SlowerLimit, "Slower"),
        limit(Action::FasterLimit, "Faster"),
    );
    items.push((slower.0, slower.1, Style::new()));
    if p.bwlimit.is_some() {
        items.push((faster.0, faster.1, Style::new()));
        items.push((
            keys::label(Context::Copying, Action::LiftLimit, "No limit"),
            Action::LiftLimit,
            Style::new(),
        ));
    }
    c.buttons(btns, &items);
}

fn gauges(app: &App, g1: Rect, g2: Rect, c: &mut Canvas<'_>) {
    let p = &app.progress;
    let (files_total, bytes_total) = p.known_totals();
    let scanning = if p.scan.complete { "" } else { "+ scanning…" };
    // While the walk is still finding work the totals are only what is known
    // so far: a filled bar would claim a share of the work that nobody knows.
    let ratio = |done: u64, total: u64| {
        if !p.scan.complete || total == 0 {
            0.0
        } else {
            (done as f64 / total as f64).clamp(0.0, 1.0)
        }
    };
    // A gauge never shows 100 % before the run is really finished.
    let cap = |r: f64| if p.done { r } else { r.min(0.999) };
    let rows = [
        (
            g1,
            "Bytes",
            cap(ratio(p.bytes_done, bytes_total)),
            format!(
                "{} / {}{scanning}",
                format::bytes(p.bytes_done),
                format::bytes(bytes_total)
            ),
            Color::Cyan,
        ),
        (
            g2,
            "Files",
            cap(ratio(p.files_done, files_total)),
            format!("{} / {files_total}{scanning} files", p.files_done),
            Color::Green,
        ),
    ];
    // Waiting for the device: the second gauge is what is left to write.
    let mut rows = rows;
    if let Some(f) = p.flushing {
        let written = 1.0 - (f.left as f64 / f.from.max(1) as f64);
        let label = crate::summary::flushing_line(f.left);
        rows[1] = (
            g2,
            "Device",
            written.clamp(0.0, 0.999),
            label,
            Color::Yellow,
        );
    }
    for (area, name, r, label, color) in rows {
        c.buf.set_string(area.x + 1, area.y, name, c.theme.accent());
        Gauge::default()
            .gauge_style(c.theme.gauge(color))
            .ratio(r)
            .label(label)
            .use_unicode(true)
            .render(
                Rect::new(area.x + 8, area.y, area.width.saturating_sub(9), 1),
                c.buf,
            );
    }
}

fn stats_line(app: &App, area: Rect, c: &mut Canvas<'_>) {
    let (p, t) = (&app.progress, &c.theme);
    let (bps, fps) = p.rates();
    // Badges first: they matter most and must survive a narrow terminal.
    let mut spans = Vec::new();
    if !app.conflicts.is_empty() {
        spans.push(Span::styled(
            format!(" ⚑ {} conflicts ", app.conflicts.len()),
            t.warn(),
        ));
    }
    if p.failed > 0 {
        spans.push(Span::styled(format!(" ✗ {} errors ", p.failed), t.bad()));
    }
    spans.extend([
        Span::styled(" Speed ", t.accent()),
        Span::raw(format!("{} ({:.0} files/s)", format::rate(bps), fps)),
        Span::styled("  Elapsed ", t.accent()),
        Span::raw(format::duration(p.elapsed())),
        Span::styled("  ETA ", t.accent()),
        Span::raw(Eta::of(p).to_string()),
        Span::styled("  Workers ", t.accent()),
        Span::raw(format!("{}", app.workers)),
    ]);

    Paragraph::new(Line::from(spans)).render(area, c.buf);
}

fn throughput(app: &App, area: Rect, c: &mut Canvas<'_>) {
    let peak = app.history.iter().copied().max().unwrap_or(0) as f64;
    let block = window(
        format!(" Throughput (peak {}) ", format::rate(peak)),
        &c.theme,
    );
    let inner = block.inner(area);
    block.render(area, c.buf);
    let data: Vec<u64> = app
        .history
        .iter()
        .rev()
        .take(inner.width as usize)
        .rev()
        .copied()
        .collect();
    Sparkline::default()
        .data(&data)
        .style(c.theme.fg(Color::Cyan))
        .render(inner, c.buf);
}

fn workers(app: &App, area: Rect, c: &mut Canvas<'_>) {
    let p = &app.progress;
    let block = window(" Workers ", &c.theme);
    let lin = block.inner(area);
    block.render(area, c.buf);
    let lanes = p.lanes_by_activity();
    let busy = lanes.iter().filter(|l| l.current.is_some()).count();
    for i in 0..app.workers.max(busy).min(lin.height as usize) {
        let y = lin.y + i as u16;
        let lane = lanes.get(i).copied().cloned().unwrap_or_default();
        let idle = app.paused || p.done;
        let busy = lane.current.is_some();
        let (text, style) = match (&lane.current, &lane.last) {
            (Some((path, size, done)), _) => {
                let pct = (done * 100).checked_div(*size).unwrap_or(0).min(100);
                let text = format!("{} {pct:>3}% {}", bar(pct, 8), DisplayPath(&path.join()));
                (text, Style::new())
            }
            (None, _) if lane.verifying.is_some() => {
                let (files, bytes) = lane.verifying.unwrap_or_default();
                let text = format!("  ⟲  reading back {files} files ({})", format::bytes(bytes));
                (text, c.theme.accent())
            }
            (None, Some(last)) if !idle => {
                (format!("  ✓  {}", DisplayPath(&last.join())), c.theme.dim())
            }
            _ => ("  idle".to_string(), c.theme.dim()),
        };
        let chosen = busy && app.chosen_lane == Some(lane.worker);
        let number = match chosen {
            true => c.theme.accent().add_modifier(Modifier::REVERSED),
            false => c.theme.accent(),
        };
        c.buf.set_string(lin.x, y, format!("{:>2}", i + 1), number);
        // A busy lane ends in ✕: click it to skip that file.
        let room = lin.width.saturating_sub(if busy { 6 } else { 3 });
        c.buf
            .set_string(lin.x + 3, y, ellipsize_path(&text, room as usize), style);
        if busy && lin.width > 8 {
            let x = lin.right() - 2;
            c.buf.set_string(x, y, "✕", c.theme.bad());
            c.hits
                .add(Rect::new(x, y, 1, 1), Action::SkipLane(lane.worker));
        }
    }
}

/// The Jobs panel: the copies that ran (✓ or ✗), the one running (▶), and
/// those waiting (numbered; ⏸ held; the chosen one highlighted).
fn jobs(app: &App, area: Rect, c: &mut Canvas<'_>) {
    let q = &app.queue;
    let block = window(format!(" Jobs ({} waiting) ", q.waiting.len()), &c.theme);
    let inner = block.inner(area);
    block.render(area, c.buf);
    let name = |p: &std::path::Path| {
        p.file_name()
            .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
    };
    let mut rows: Vec<(String, Style)> = Vec::new();
    for f in &q.finished {
        let (mark, style) = match f.code {
            crate::exit::ExitCode::Success => ("✓", c.theme.good()),
            _ => ("✗", c.theme.bad()),
        };
        rows.push((
            format!("{mark} {} → {}", name(&f.source), name(&f.dest)),
            style,
        ));
    }
    rows.push((
        format!("▶ {} → {}", name(&app.source), name(&app.dest)),
        c.theme.accent(),
    ));
    // Copies beside it, on other devices, with how far they are.
    for b in &app.beside {
        let (_, total) = b.progress.known_totals();
        let pct = (b.progress.bytes_done * 100)
            .checked_div(total)
            .unwrap_or(0);
        let text = format!(
            "▶ {} → {} {:>3}%",
            name(&b.config.source_named()),
            name(&b.config.dest_named()),
            pct.min(100)
        );
        rows.push((text, c.theme.accent()));
    }
    for (i, w) in q.waiting.iter().enumerate() {
        let held = if w.held { "⏸ " } else { "" };
        let text = format!(
            "{} {held}{} → {}",
            i + 1,
            name(&w.config.source_named()),
            name(&w.config.dest_named())
        );
        let style = match i == q.selected {
            true => Style::new().add_modifier(Modifier::REVERSED),
            false if w.held => c.theme.dim(),
            false => Style::new(),
        };
        rows.push((text, style));
    }
    // The running copy and what waits matter most: the oldest finished go.
    let skip = rows.len().saturating_sub(inner.height as usize);
    for (i, (text, style)) in rows.into_iter().skip(skip).enumerate() {
        let shown = format::ellipsize_middle(&text, inner.width as usize);
        c.buf.set_string(inner.x, inner.y + i as u16, shown, style);
    }
}

fn recent(app: &App, area: Rect, c: &mut Canvas<'_>) {
    let block = window(" Recent ", &c.theme);
    let rin = block.inner(area);
    block.render(area, c.buf);
    let n = rin.height as usize;
    let skip = app
        .log
        .len()
        .saturating_sub(n + app.scroll.min(app.log.len()));
    for (i, (mark, path)) in app.log.iter().skip(skip).take(n).enumerate() {
        let style = if *mark == '✗' {
            c.theme.bad()
        } else {
            Style::new()
        };
        let line = format!("{mark} {}", DisplayPath(&path.join()));
        c.buf.set_string(
            rin.x,
            rin.y + i as u16,
            ellipsize_path(&line, rin.width as usize),
            style,
        );
    }
}

fn errors_box(app: &App, area: Rect, c: &mut Canvas<'_>) {
    let p = &app.progress;
    let border = if p.failed > 0 {
        c.theme.bad()
    } else {
        c.theme.dim()
    };
    let block = window(format!(" Errors ({}) ", p.failed), &c.theme).border_style(border);
    let ein = block.inner(area);
    block.render(area, c.buf);
    if p.failures.is_empty() {
        c.buf.set_string(ein.x, ein.y, "none so far", c.theme.dim());
    }
    let shown = p.failures.iter().rev().take(ein.height as usize);
    for (i, f) in shown.enumerate() {
        let text = problem_line(&f.path, &f.reason, ein.width as usize);
        c.buf
            .set_string(ein.x, ein.y + i as u16, text, c.theme.bad());
    }
}
