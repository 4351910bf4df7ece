//! Drawing: every screen and dialog from `&App` alone. Buttons record where they
//! were drawn so a mouse click maps to the same action as its key.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, BorderType, Borders, Clear, Gauge, Paragraph, Sparkline, Widget, Wrap,
};
use unicode_width::UnicodeWidthStr;

use super::app::{Action, App, Dialog, Screen};
use super::setup::{Field, policy_name};
use crate::engine::Choice;
use crate::format::{self, DisplayPath, ellipsize_middle, ellipsize_path};

/// Colours that read on dark and light backgrounds; none with `NO_COLOR`.
struct Theme {
    colors: bool,
}

impl Theme {
    fn fg(&self, c: Color) -> Style {
        if self.colors {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }
    fn accent(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    fn good(&self) -> Style {
        self.fg(Color::Green)
    }
    fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    fn warn(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    fn dim(&self) -> Style {
        if self.colors {
            Style::new().add_modifier(Modifier::DIM)
        } else {
            Style::new()
        }
    }
    fn focused(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    fn gauge(&self, c: Color) -> Style {
        if self.colors {
            Style::new().fg(c)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    }
}

fn window<'a>(title: impl Into<Line<'a>>, t: &Theme) -> Block<'a> {
    Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .title(title)
        .border_style(t.dim())
        .title_style(t.accent())
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

impl App {
    /// Draws `[ label ]` at (x, y) and remembers it for the mouse; returns its
    /// width, or 0 when it does not fit before `right`.
    fn button(
        &self,
        buf: &mut Buffer,
        (x, y, right): (u16, u16, u16),
        label: &str,
        action: Action,
        style: Style,
    ) -> u16 {
        let text = format!("[ {label} ]");
        let w = text.width() as u16;
        if x + w > right {
            return 0;
        }
        buf.set_string(x, y, &text, style);
        self.hits.borrow_mut().push((Rect::new(x, y, w, 1), action));
        w + 2
    }

    fn buttons(&self, buf: &mut Buffer, area: Rect, items: &[(&str, Action, Style)]) {
        let mut x = area.x + 1;
        for (label, action, style) in items {
            x += self.button(buf, (x, area.y, area.right()), label, *action, *style);
        }
    }
}

fn status_bar(buf: &mut Buffer, area: Rect, text: &str, t: &Theme) {
    let style = if t.colors {
        Style::new().bg(Color::Blue).fg(Color::White)
    } else {
        Style::new().add_modifier(Modifier::REVERSED)
    };
    buf.set_style(area, style);
    buf.set_string(
        area.x + 1,
        area.y,
        ellipsize_middle(text, area.width.saturating_sub(2) as usize),
        style,
    );
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        self.hits.borrow_mut().clear();
        let t = Theme {
            colors: self.colors,
        };
        let [main, status] =
            Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
        let hint = match (self.dialog, self.screen) {
            (Some(Dialog::Conflict), _) => {
                "o overwrite · s skip · k keep both · n if newer · a for all · Esc later"
            }
            (Some(Dialog::ConfirmCancel), _) => {
                "y or Enter cancel the copy · n or Esc keep copying"
            }
            (Some(Dialog::Help), _) => "? or Esc close help",
            (None, Screen::Setup) => {
                "Tab/Shift-Tab move · → accept suggestion · Enter open · F5 start · ? help · Esc quit"
            }
            (None, Screen::Copying) => {
                "p/Space pause · +/- workers · c conflicts · Esc/q cancel · ? help"
            }
            (None, Screen::Summary) => {
                "r retry failed · n new copy · ↑/↓ scroll · q/Esc/Enter quit · ? help"
            }
        };
        status_bar(buf, status, hint, &t);
        match self.screen {
            Screen::Setup => self.render_setup(main, buf, &t),
            Screen::Copying => self.render_copying(main, buf, &t),
            Screen::Summary => self.render_summary(main, buf, &t),
        }
        match self.dialog {
            Some(Dialog::Help) => self.render_help(main, buf, &t),
            Some(Dialog::ConfirmCancel) => self.render_confirm(main, buf, &t),
            Some(Dialog::Conflict) => self.render_conflict(main, buf, &t),
            None => {}
        }
    }
}

impl App {
    fn render_setup(&self, area: Rect, buf: &mut Buffer, t: &Theme) {
        let s = &self.setup;
        let block = window(" convoy — New copy ", t);
        let inner = block.inner(area);
        block.render(area, buf);
        let [src_row, dst_row, _, middle, err_row, btn_row] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(4),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(inner);
        let mut field = |row: Rect, label: &str, value: &str, f: Field| {
            let label_w = 13u16;
            let style = if s.focus == f {
                t.focused()
            } else {
                Style::new().add_modifier(Modifier::UNDERLINED)
            };
            buf.set_string(row.x + 1, row.y, label, t.accent());
            let w = row.width.saturating_sub(label_w + 2);
            let shown = ellipsize_middle(value, w.saturating_sub(1) as usize);
            let fill = format!(
                "{shown:<width$}",
                width = w as usize - (shown.width() - shown.chars().count()).min(w as usize)
            );
            buf.set_string(row.x + label_w, row.y, &fill, style);
            if s.focus == f {
                let cx = row.x + label_w + shown.width() as u16;
                buf.set_string(cx.min(row.right().saturating_sub(1)), row.y, "▏", style);
            }
            self.hits
                .borrow_mut()
                .push((Rect::new(row.x, row.y, row.width, 1), Action::Focus(f)));
        };
        field(src_row, "Source", &s.source, Field::Source);
        field(dst_row, "Destination", &s.dest, Field::Dest);

        let [browse, options] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                .areas(middle);
        let target = if s.browse_target == Field::Dest {
            "destination"
        } else {
            "source"
        };
        let title = format!(" Folders → {target}: {} ", s.browse_dir.display());
        let bblock = window(
            Line::from(ellipsize_middle(
                &title,
                browse.width.saturating_sub(2) as usize,
            )),
            t,
        )
        .border_style(if s.focus == Field::Browser {
            t.accent()
        } else {
            t.dim()
        });
        let list = bblock.inner(browse);
        bblock.render(browse, buf);
        let rows = list.height as usize;
        let offset = if s.browse_selected >= rows {
            s.browse_selected + 1 - rows
        } else {
            0
        };
        for (i, name) in s.browse_entries.iter().enumerate().skip(offset).take(rows) {
            let y = list.y + (i - offset) as u16;
            let label = if name == ".." {
                "↑ ..".to_string()
            } else {
                format!("▸ {name}/")
            };
            let style = if i == s.browse_selected && s.focus == Field::Browser {
                t.focused()
            } else if i == s.browse_selected {
                t.accent()
            } else {
                Style::new()
            };
            buf.set_string(
                list.x,
                y,
                ellipsize_middle(&label, list.width as usize),
                style,
            );
            self.hits
                .borrow_mut()
                .push((Rect::new(list.x, y, list.width, 1), Action::BrowseClick(i)));
        }

        let oblock = window(" Options ", t);
        let o = oblock.inner(options);
        oblock.render(options, buf);
        let mut opt = |i: u16, text: String, f: Field| {
            if i < o.height {
                let style = if s.focus == f {
                    t.focused()
                } else {
                    Style::new()
                };
                buf.set_string(
                    o.x + 1,
                    o.y + i,
                    ellipsize_middle(&text, o.width.saturating_sub(1) as usize),
                    style,
                );
                self.hits
                    .borrow_mut()
                    .push((Rect::new(o.x, o.y + i, o.width, 1), Action::Focus(f)));
            }
        };
        let check = |b: bool| if b { "[x]" } else { "[ ]" };
        opt(0, format!("Workers    ◀ {} ▶", s.jobs), Field::Jobs);
        opt(
            1,
            format!("Conflicts  ◀ {} ▶", policy_name(s.policy)),
            Field::Policy,
        );
        opt(
            2,
            format!("{} Follow symlinks", check(s.dereference)),
            Field::Deref,
        );
        opt(3, format!("{} Dry run", check(s.dry_run)), Field::DryRun);

        if let Some(e) = &s.error {
            buf.set_string(
                err_row.x + 1,
                err_row.y,
                ellipsize_middle(&format!("⚠ {e}"), err_row.width as usize - 2),
                t.bad(),
            );
        }
        let focus_style = |f: Field, base: Style| if s.focus == f { t.focused() } else { base };
        self.buttons(
            buf,
            btn_row,
            &[
                (
                    "Start (F5)",
                    Action::Start,
                    focus_style(Field::Start, t.good().add_modifier(Modifier::BOLD)),
                ),
                ("Quit", Action::Quit, focus_style(Field::Quit, Style::new())),
            ],
        );

        // Suggestions float under the focused path field, above everything else.
        if !s.suggestions.is_empty() && matches!(s.focus, Field::Source | Field::Dest) {
            let row = if s.focus == Field::Source {
                src_row
            } else {
                dst_row
            };
            let h = (s.suggestions.len() as u16 + 2).min(inner.bottom().saturating_sub(row.y + 1));
            let w = row.width.saturating_sub(13);
            let pop = Rect::new(row.x + 13, row.y + 1, w, h);
            Clear.render(pop, buf);
            let pblock = window(" Suggestions (→ accepts) ", t);
            let pin = pblock.inner(pop);
            pblock.render(pop, buf);
            for (i, sug) in s.suggestions.iter().enumerate().take(pin.height as usize) {
                let style = if i == s.suggestion {
                    t.focused()
                } else {
                    Style::new()
                };
                buf.set_string(
                    pin.x,
                    pin.y + i as u16,
                    ellipsize_middle(sug, pin.width as usize),
                    style,
                );
            }
        }
    }

    fn title_paths(&self) -> (String, String) {
        (
            self.source.display().to_string(),
            self.dest.display().to_string(),
        )
    }

    fn render_copying(&self, area: Rect, buf: &mut Buffer, t: &Theme) {
        let p = &self.progress;
        let title = match (self.paused, p.cancelled) {
            (_, true) => " convoy — Cancelling… ",
            (true, _) => " convoy — Paused ",
            _ => " convoy — Copying ",
        };
        let block = window(title, t);
        let inner = block.inner(area);
        block.render(area, buf);
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
        let (src, dst) = self.title_paths();
        let w = inner.width.saturating_sub(8) as usize;
        buf.set_string(from.x + 1, from.y, "From", t.accent());
        buf.set_string(from.x + 7, from.y, ellipsize_path(&src, w), Style::new());
        buf.set_string(to.x + 1, to.y, "To", t.accent());
        buf.set_string(to.x + 7, to.y, ellipsize_path(&dst, w), Style::new());

        let scanning = if p.scan.complete { "" } else { "+ scanning…" };
        let ratio = |done: u64, total: u64| {
            if total == 0 {
                0.0
            } else {
                (done as f64 / total as f64).clamp(0.0, 1.0)
            }
        };
        let bytes_label = format!(
            "{} / {}{scanning}",
            format::bytes(p.bytes_done),
            format::bytes(p.scan.bytes)
        );
        let files_label = format!("{} / {}{scanning} files", p.files_done, p.scan.files);
        // A gauge never shows 100 % before the run is really finished.
        let cap = |r: f64| if p.done { r } else { r.min(0.999) };
        let mut gauge = |area: Rect, name: &str, r: f64, label: String, c: Color| {
            buf.set_string(area.x + 1, area.y, name, t.accent());
            Gauge::default()
                .gauge_style(t.gauge(c))
                .ratio(r)
                .label(label)
                .use_unicode(true)
                .render(
                    Rect::new(area.x + 8, area.y, area.width.saturating_sub(9), 1),
                    buf,
                );
        };
        gauge(
            g1,
            "Bytes",
            cap(ratio(p.bytes_done, p.scan.bytes)),
            bytes_label,
            Color::Cyan,
        );
        gauge(
            g2,
            "Files",
            cap(ratio(p.files_done, p.scan.files)),
            files_label,
            Color::Green,
        );

        let (bps, fps) = p.rates();
        let eta = match (p.scan.complete, p.eta()) {
            (false, _) => "…".to_string(),
            (true, Some(d)) => format::duration(d),
            (true, None) => "–".to_string(),
        };
        // Badges first: they matter most and must survive a narrow terminal.
        let mut spans = Vec::new();
        if !self.conflicts.is_empty() {
            spans.push(Span::styled(
                format!(" ⚑ {} conflicts ", self.conflicts.len()),
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
            Span::raw(eta),
            Span::styled("  Workers ", t.accent()),
            Span::raw(format!("{}", self.workers)),
        ]);
        Paragraph::new(Line::from(spans)).render(stats, buf);

        let sblock = window(
            format!(
                " Throughput (peak {}) ",
                format::rate(self.history.iter().copied().max().unwrap_or(0) as f64)
            ),
            t,
        );
        let sin = sblock.inner(spark);
        sblock.render(spark, buf);
        let data: Vec<u64> = self
            .history
            .iter()
            .rev()
            .take(sin.width as usize)
            .rev()
            .copied()
            .collect();
        Sparkline::default()
            .data(&data)
            .style(t.fg(Color::Cyan))
            .render(sin, buf);

        let [lanes_area, log_area] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(lanes);
        let lblock = window(" Workers ", t);
        let lin = lblock.inner(lanes_area);
        lblock.render(lanes_area, buf);
        let lanes = p.lanes_by_activity();
        let busy = lanes.iter().filter(|l| l.current.is_some()).count();
        for i in 0..self.workers.max(busy).min(lin.height as usize) {
            let y = lin.y + i as u16;
            let lane = lanes.get(i).copied().cloned().unwrap_or_default();
            let idle = self.paused || p.done;
            let (text, style) = match (&lane.current, &lane.last) {
                (Some((path, size, done)), _) => {
                    let pct = (done * 100).checked_div(*size).unwrap_or(0).min(100);
                    let text = format!("{} {pct:>3}% {}", bar(pct, 8), DisplayPath(&path.join()));
                    (text, Style::new())
                }
                (None, Some(last)) if !idle => {
                    (format!("  ✓  {}", DisplayPath(&last.join())), t.dim())
                }
                _ => ("  idle".to_string(), t.dim()),
            };
            buf.set_string(lin.x, y, format!("{:>2}", i + 1), t.accent());
            buf.set_string(
                lin.x + 3,
                y,
                ellipsize_path(&text, lin.width.saturating_sub(3) as usize),
                style,
            );
        }
        let rblock = window(" Recent ", t);
        let rin = rblock.inner(log_area);
        rblock.render(log_area, buf);
        let n = rin.height as usize;
        let skip = self
            .log
            .len()
            .saturating_sub(n + self.scroll.min(self.log.len()));
        for (i, (mark, path)) in self.log.iter().skip(skip).take(n).enumerate() {
            let style = if *mark == '✗' {
                t.bad()
            } else {
                Style::new()
            };
            let line = format!("{mark} {}", DisplayPath(&path.join()));
            buf.set_string(
                rin.x,
                rin.y + i as u16,
                ellipsize_path(&line, rin.width as usize),
                style,
            );
        }

        let eblock = window(format!(" Errors ({}) ", p.failed), t).border_style(if p.failed > 0 {
            t.bad()
        } else {
            t.dim()
        });
        let ein = eblock.inner(errors);
        eblock.render(errors, buf);
        if p.failures.is_empty() {
            buf.set_string(ein.x, ein.y, "none so far", t.dim());
        }
        let shown = p.failures.iter().rev().take(ein.height as usize);
        for (i, f) in shown.enumerate() {
            let text = problem_line(&f.path, &f.reason, ein.width as usize);
            buf.set_string(ein.x, ein.y + i as u16, text, t.bad());
        }

        let pause = if self.paused {
            "Resume (p)"
        } else {
            "Pause (p)"
        };
        let mut items: Vec<(&str, Action, Style)> = vec![
            (pause, Action::TogglePause, t.accent()),
            ("Cancel (Esc)", Action::AskCancel, Style::new()),
        ];
        if !self.conflicts.is_empty() {
            items.push(("Conflicts (c)", Action::ShowConflicts, t.warn()));
        }
        items.push(("− worker", Action::FewerWorkers, Style::new()));
        items.push(("+ worker", Action::MoreWorkers, Style::new()));
        self.buttons(buf, btns, &items);
    }

    fn render_summary(&self, area: Rect, buf: &mut Buffer, t: &Theme) {
        let p = &self.progress;
        let dry = self.config.as_ref().is_some_and(|c| c.dry_run);
        let state = if p.cancelled && p.fatal.is_none() {
            "Cancelled"
        } else {
            "Done"
        };
        let verb = if dry { "would be copied" } else { "copied" };
        let title = format!(" {state} — {} files {verb} ", p.files_copied);
        let style = if p.failed > 0 || p.fatal.is_some() {
            t.bad()
        } else {
            t.good().add_modifier(Modifier::BOLD)
        };
        let block = window(Line::styled(title, style), t);
        let inner = block.inner(area);
        block.render(area, buf);
        let [head, list, btns] = Layout::vertical([
            Constraint::Length(6),
            Constraint::Min(2),
            Constraint::Length(1),
        ])
        .areas(inner);
        let left = p.scan.files.saturating_sub(p.files_done);
        let mut lines = vec![
            Line::from(vec![
                Span::styled(" Copied     ", t.accent()),
                Span::raw(format!(
                    "{} files ({}), {} folders, {} symlinks, {} hard links",
                    p.files_copied,
                    format::bytes(p.bytes_copied),
                    p.dirs,
                    p.symlinks,
                    p.hard_links
                )),
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
                    &self.dest.display().to_string(),
                    inner.width.saturating_sub(14) as usize,
                )),
            ]),
        ];
        if let Some(f) = &p.fatal {
            lines.push(Line::styled(format!(" Stopped: {f}"), t.bad()));
        } else if p.cancelled {
            lines.push(Line::styled(
                format!(" Cancelled: {left} files not copied"),
                t.warn(),
            ));
        }
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .render(head, buf);

        let lblock = window(format!(" Failed ({}) ", p.failures.len()), t);
        let lin = lblock.inner(list);
        lblock.render(list, buf);
        if p.failures.is_empty() {
            let msg = if p.skips.is_empty() {
                "No failures."
            } else {
                "No failures; skipped entries:"
            };
            buf.set_string(lin.x, lin.y, msg, t.good());
            for (i, k) in p
                .skips
                .iter()
                .take(lin.height.saturating_sub(1) as usize)
                .enumerate()
            {
                let text = problem_line(&k.path, &k.reason, lin.width as usize);
                buf.set_string(lin.x, lin.y + 1 + i as u16, text, t.dim());
            }
        }
        for (i, f) in p
            .failures
            .iter()
            .skip(self.scroll)
            .take(lin.height as usize)
            .enumerate()
        {
            let text = problem_line(&f.path, &f.reason, lin.width as usize);
            buf.set_string(lin.x, lin.y + i as u16, text, t.bad());
        }
        let mut items = vec![];
        if !p.failures.is_empty() {
            items.push(("Retry failed (r)", Action::Retry, t.accent()));
        }
        items.push(("New copy (n)", Action::NewCopy, Style::new()));
        items.push(("Quit (q)", Action::Quit, Style::new()));
        self.buttons(buf, btns, &items);
    }

    fn dialog_frame(
        &self,
        area: Rect,
        buf: &mut Buffer,
        w: u16,
        h: u16,
        title: &str,
        t: &Theme,
    ) -> Rect {
        let r = centered(area, w, h);
        Clear.render(r, buf);
        let block = window(title.to_string(), t)
            .border_type(BorderType::Double)
            .border_style(t.accent());
        let inner = block.inner(r);
        block.render(r, buf);
        inner
    }

    fn render_confirm(&self, area: Rect, buf: &mut Buffer, t: &Theme) {
        let inner = self.dialog_frame(area, buf, 44, 7, " Cancel copy? ", t);
        buf.set_string(
            inner.x + 1,
            inner.y + 1,
            "Files being copied are abandoned",
            Style::new(),
        );
        buf.set_string(
            inner.x + 1,
            inner.y + 2,
            "cleanly; finished files stay.",
            Style::new(),
        );
        self.buttons(
            buf,
            Rect::new(inner.x, inner.y + 4, inner.width, 1),
            &[
                ("Yes, cancel (y)", Action::ConfirmCancel, t.bad()),
                ("No (n)", Action::CloseDialog, t.accent()),
            ],
        );
    }

    fn render_conflict(&self, area: Rect, buf: &mut Buffer, t: &Theme) {
        let Some(c) = self.conflicts.front() else {
            return;
        };
        let title = format!(" Conflict 1 of {} ", self.conflicts.len());
        let inner = self.dialog_frame(area, buf, area.width.min(74), 12, &title, t);
        let path = DisplayPath(&c.path.join()).to_string();
        buf.set_string(
            inner.x + 1,
            inner.y,
            ellipsize_middle(&path, inner.width as usize - 2),
            t.warn(),
        );
        buf.set_string(
            inner.x + 1,
            inner.y + 1,
            "already exists at the destination and differs.",
            Style::new(),
        );
        let when = |(s, _): (i64, i64)| format_time(s);
        let newer = |a: (i64, i64), b: (i64, i64)| if a > b { "  (newer)" } else { "" };
        buf.set_string(inner.x + 1, inner.y + 3, "Source     ", t.accent());
        buf.set_string(
            inner.x + 12,
            inner.y + 3,
            format!(
                "{:>10}  {}{}",
                format::bytes(c.src_size),
                when(c.src_mtime),
                newer(c.src_mtime, c.dest_mtime)
            ),
            Style::new(),
        );
        buf.set_string(inner.x + 1, inner.y + 4, "Destination", t.accent());
        buf.set_string(
            inner.x + 12,
            inner.y + 4,
            format!(
                "{:>10}  {}{}",
                format::bytes(c.dest_size),
                when(c.dest_mtime),
                newer(c.dest_mtime, c.src_mtime)
            ),
            Style::new(),
        );
        let check = if self.for_all { "[x]" } else { "[ ]" };
        let label = format!("{check} Do this for all remaining conflicts (a)");
        buf.set_string(
            inner.x + 1,
            inner.y + 6,
            &label,
            if self.for_all { t.warn() } else { Style::new() },
        );
        self.hits.borrow_mut().push((
            Rect::new(inner.x + 1, inner.y + 6, label.width() as u16, 1),
            Action::ToggleForAll,
        ));
        self.buttons(
            buf,
            Rect::new(inner.x, inner.y + 8, inner.width, 1),
            &[
                ("Overwrite (o)", Action::Answer(Choice::Overwrite), t.bad()),
                ("Skip (s)", Action::Answer(Choice::Skip), t.accent()),
                (
                    "Keep both (k)",
                    Action::Answer(Choice::KeepBoth),
                    Style::new(),
                ),
                (
                    "If newer (n)",
                    Action::Answer(Choice::OverwriteIfNewer),
                    Style::new(),
                ),
            ],
        );
    }

    fn render_help(&self, area: Rect, buf: &mut Buffer, t: &Theme) {
        let inner = self.dialog_frame(area, buf, 66, 20, " Help ", t);
        let lines = [
            ("Everywhere", ""),
            ("  ?", "show or hide this help"),
            (
                "  mouse",
                "click buttons, fields and folders; wheel scrolls",
            ),
            ("Setup", ""),
            ("  Tab / Shift-Tab", "next / previous field"),
            (
                "  typing, → or Enter",
                "edit a path, accept the highlighted suggestion",
            ),
            ("  ↑ ↓ Enter ←", "browse folders: select, open, go up"),
            ("  ◀ ▶ / Space", "change an option"),
            ("  F5", "start the copy"),
            ("Copying", ""),
            ("  p or Space", "pause / resume"),
            ("  + / -", "more / fewer workers, live"),
            ("  c", "answer waiting conflicts"),
            ("  Esc or q", "cancel (asks first)"),
            ("Summary", ""),
            ("  r / n / q", "retry failed / new copy / quit"),
        ];
        for (i, (k, v)) in lines.iter().enumerate().take(inner.height as usize) {
            let style = if v.is_empty() {
                t.accent()
            } else {
                Style::new().add_modifier(Modifier::BOLD)
            };
            buf.set_string(inner.x + 1, inner.y + i as u16, k, style);
            buf.set_string(inner.x + 24, inner.y + i as u16, v, Style::new());
        }
    }
}

/// A lane's own small gauge: `████░░░░`.
fn bar(pct: u64, width: usize) -> String {
    let full = (pct as usize * width).div_ceil(100).min(width);
    format!("{}{}", "█".repeat(full), "░".repeat(width - full))
}

/// `path: reason` in `width` columns: the path gives way first, so the reason
/// (what went wrong) stays readable.
fn problem_line(path: &std::path::Path, reason: &str, width: usize) -> String {
    let path = DisplayPath(path).to_string();
    let room = width.saturating_sub(reason.width() + 2);
    if room >= 12 {
        format!("{}: {reason}", ellipsize_path(&path, room))
    } else {
        ellipsize_middle(&format!("{path}: {reason}"), width)
    }
}

/// `2024-05-01 13:45` in UTC, without a time-zone database.
fn format_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_shown_as_dates() {
        assert_eq!(super::format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::format_time(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }
}
