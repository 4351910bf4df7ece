//! The summary: how the run ended, its counts, and every failure (scrollable),
//! with Retry failed, New copy and Quit.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::widgets::{Canvas, problem_line, window};
use crate::format::{self, ellipsize_middle};
use crate::summary;
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::keys::{self, Context};

pub fn draw(app: &App, area: Rect, c: &mut Canvas<'_>) {
    let p = &app.progress;
    let dry = app.config.as_ref().is_some_and(|c| c.dry_run);
    let style = if p.failed > 0 || p.fatal.is_some() {
        c.theme.bad()
    } else {
        c.theme.good().add_modifier(Modifier::BOLD)
    };
    let title = format!(" {} ", summary::headline(p, dry));
    let block = window(Line::styled(title, style), &c.theme);
    let inner = block.inner(area);
    block.render(area, c.buf);
    let not_kept = summary::not_kept_lines(p);
    let kept = summary::kept_lines(p);
    // Room for the counts, a stopped line, what was kept for resuming and
    // what was not kept (each may wrap once), never more than half the window.
    let listed = |n: usize| if n == 0 { 0 } else { 1 + 2 * n as u16 };
    let mirror = summary::mirror_lines(p, dry);
    let wanted = 6 + listed(not_kept.len()) + listed(kept.len()) + mirror.len().min(6) as u16;
    let [head, list, btns] = Layout::vertical([
        Constraint::Length(wanted.min(inner.height / 2).max(6)),
        Constraint::Min(2),
        Constraint::Length(1),
    ])
    .areas(inner);
    let t = &c.theme;
    let mut lines = vec![
        Line::from(vec![
            Span::styled(" Copied     ", t.accent()),
            Span::raw(summary::copied_counts(p)),
        ]),
        Line::from(vec![
            Span::styled(" Up to date ", t.accent()),
            Span::raw(format!("{}", p.up_to_date)),
            Span::styled("   Skipped ", t.accent()),
            Span::raw(format!("{}", p.skipped)),
            Span::styled("   Failed ", t.accent()),
            Span::styled(
                format!("{}", p.failed),
                if p.failed > 0 { t.bad() } else { Style::new() },
            ),
            Span::styled(if p.verified > 0 { "   Verified " } else { "" }, t.accent()),
            Span::raw(if p.verified > 0 {
                p.verified.to_string()
            } else {
                String::new()
            }),
        ]),
        Line::from(vec![
            Span::styled(" Elapsed    ", t.accent()),
            Span::raw(format::duration(p.elapsed())),
            Span::styled("   Average ", t.accent()),
            Span::raw(format::rate(p.average_rate())),
        ]),
        Line::from(vec![
            Span::styled(" Into       ", t.accent()),
            Span::raw(ellipsize_middle(
                &app.dest.display().to_string(),
                inner.width.saturating_sub(14) as usize,
            )),
        ]),
    ];
    if let Some(line) = summary::stopped_line(p) {
        let style = if p.fatal.is_some() { t.bad() } else { t.warn() };
        lines.push(Line::styled(format!(" {line}"), style));
    }
    let width = inner.width.saturating_sub(3) as usize;
    for (i, l) in mirror.iter().take(6).enumerate() {
        let style = if i == 0 { t.accent() } else { Style::new() };
        let l = if i == 5 && mirror.len() > 6 {
            format!("  … and {} more", mirror.len() - 6)
        } else {
            l.clone()
        };
        lines.push(Line::styled(
            format!(" {}", ellipsize_middle(&l, width)),
            style,
        ));
    }
    if let Some(said) = &app.discarded {
        lines.push(Line::styled(format!(" {said}"), t.warn()));
    } else if !kept.is_empty() {
        lines.push(Line::styled(
            format!(" {}", summary::KEPT_FOR_RESUME),
            t.warn(),
        ));
        for l in &kept {
            for part in format::wrap_indented(l, width, 2) {
                lines.push(Line::raw(format!("   {part}")));
            }
        }
    }
    if !not_kept.is_empty() {
        lines.push(Line::styled(format!(" {}", summary::NOT_KEPT), t.warn()));
        for l in &not_kept {
            for part in format::wrap_indented(l, width, 2) {
                lines.push(Line::raw(format!("   {part}")));
            }
        }
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(head, c.buf);
    // A queue: every copy of it with how it ended, then the last one's
    // failures.
    let list = if app.queue.used() {
        let q = &app.queue;
        let rows = (q.finished.len() + q.waiting.len()) as u16 + 2;
        let [copies_area, rest] = Layout::vertical([
            Constraint::Length(rows.min(list.height / 2).max(3)),
            Constraint::Min(2),
        ])
        .areas(list);
        copies(app, copies_area, c);
        rest
    } else {
        list
    };
    problems(app, list, c);

    let t = &c.theme;
    let mut items = vec![];
    if !p.failures.is_empty() {
        items.push((
            keys::label(Context::Summary, Action::Retry, "Retry failed"),
            Action::Retry,
            t.accent(),
        ));
    }
    if !p.kept_partials.is_empty() && app.discarded.is_none() {
        items.push((
            keys::label(Context::Summary, Action::DiscardPartials, "Remove partials"),
            Action::DiscardPartials,
            Style::new(),
        ));
    }
    items.push((
        keys::label(Context::Summary, Action::NewCopy, "New copy"),
        Action::NewCopy,
        Style::new(),
    ));
    items.push((
        keys::label(Context::Summary, Action::Quit, "Quit"),
        Action::Quit,
        Style::new(),
    ));
    c.buttons(btns, &items);
}

/// Every copy of the queue: how each ended, and those never started.
fn copies(app: &App, area: Rect, c: &mut Canvas<'_>) {
    let q = &app.queue;
    let block = window(format!(" Copies ({}) ", q.finished.len()), &c.theme);
    let inner = block.inner(area);
    block.render(area, c.buf);
    let width = inner.width as usize;
    let mut rows = Vec::new();
    for (i, f) in q.finished.iter().enumerate() {
        let style = match f.code {
            crate::exit::ExitCode::Success => c.theme.good(),
            _ => c.theme.bad(),
        };
        let text = format!(
            "{}. {}: {} → {}",
            i + 1,
            f.headline,
            f.source.display(),
            f.dest.display()
        );
        rows.push((text, style));
    }
    for w in &q.waiting {
        let text = format!(
            "–  not started: {} → {}",
            w.config.source_named().display(),
            w.config.dest_named().display()
        );
        rows.push((text, c.theme.dim()));
    }
    for (i, (text, style)) in rows.into_iter().take(inner.height as usize).enumerate() {
        let shown = ellipsize_middle(&text, width);
        c.buf.set_string(inner.x, inner.y + i as u16, shown, style);
    }
}

/// Failures, scrollable; or, when nothing failed, what was skipped. After a
/// queue, the failures of every copy of it.
fn problems(app: &App, area: Rect, c: &mut Canvas<'_>) {
    let p = &app.progress;
    let all: Vec<&crate::progress::Problem> = match app.queue.used() {
        true => app
            .queue
            .finished
            .iter()
            .flat_map(|f| &f.failures)
            .collect(),
        false => p.failures.iter().collect(),
    };
    let block = window(format!(" Failed ({}) ", all.len()), &c.theme);
    let lin = block.inner(area);
    block.render(area, c.buf);
    if all.is_empty() {
        let msg = if p.skips.is_empty() {
            "No failures."
        } else {
            "No failures; skipped entries:"
        };
        c.buf.set_string(lin.x, lin.y, msg, c.theme.good());
        let room = lin.height.saturating_sub(1) as usize;
        for (i, k) in p.skips.iter().take(room).enumerate() {
            let text = problem_line(&k.path, &k.reason, lin.width as usize);
            c.buf
                .set_string(lin.x, lin.y + 1 + i as u16, text, c.theme.dim());
        }
    }
    let shown = all.iter().skip(app.scroll).take(lin.height as usize);
    for (i, f) in shown.enumerate() {
        let text = problem_line(&f.path, &f.reason, lin.width as usize);
        c.buf
            .set_string(lin.x, lin.y + i as u16, text, c.theme.bad());
    }
}
