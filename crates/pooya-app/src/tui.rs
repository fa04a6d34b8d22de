//! The full-screen app (`pooya app` with no subcommand, in a terminal): the cards on the left in
//! columns (label, bank, masked number; widths in terminal cells, so Persian text lines up), the
//! selected card's first and second passwords on the right with a bar of the time they have
//! left, green, then orange, then red (R17). Before it starts, a wrong password typed at the
//! prompt is asked for again, three times in all ([`crate::password::unlock`]).
//!
//! Keys: ↑/↓ (or k/j) switch cards, `c` copies the second password, `f` the first, `q` or Esc
//! quits. A copied code is wiped from the clipboard after 20 s, or on quit if sooner. The
//! clipboard is reached through the platform's own tool (`wl-copy` under Wayland, `xclip` or
//! `xsel` under X11, `pbcopy` on macOS, `clip.exe` on Windows); where there is none (a server,
//! a bare console) the app says so instead of copying.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Direction, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Gauge, HighlightSpacing, Paragraph, Row, Table, TableState,
};
use ratatui::Frame;
use zeroize::Zeroizing;

use crate::cards::{KindName, PasswordKind};
use crate::clock::{boot_now, local_now_ms, Correction};
use crate::error::{AppError, Result};
use crate::tr;
use crate::vault::{Token, Vault};

/// How long a copied code stays in the clipboard.
pub const CLIPBOARD_TTL: Duration = Duration::from_secs(20);

/// The bar's colour for the part of the lifetime left: green, orange below half, red below a
/// fifth.
pub fn bar_color(remaining_ms: i64, lifetime_secs: u32) -> Color {
    let total = i64::from(lifetime_secs.max(1)) * 1000;
    let left = remaining_ms.clamp(0, total);
    if left * 2 > total {
        Color::Green
    } else if left * 5 > total {
        Color::Indexed(208) // orange
    } else {
        Color::Red
    }
}

/// The platform's clipboard tool, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clipboard {
    program: PathBuf,
    args: Vec<&'static str>,
}

impl Clipboard {
    /// Finds a clipboard tool that can work here: one on `PATH` whose display server is set.
    pub fn detect() -> Option<Self> {
        let set = |v: &str| std::env::var_os(v).is_some_and(|x| !x.is_empty());
        let mut candidates: Vec<(&str, Vec<&'static str>)> = Vec::new();
        if set("WAYLAND_DISPLAY") {
            candidates.push(("wl-copy", vec![]));
        }
        if set("DISPLAY") {
            candidates.push(("xclip", vec!["-selection", "clipboard"]));
            candidates.push(("xsel", vec!["--clipboard", "--input"]));
        }
        if cfg!(target_os = "macos") {
            candidates.push(("pbcopy", vec![]));
        }
        if cfg!(windows) {
            candidates.push(("clip.exe", vec![]));
        }
        candidates
            .into_iter()
            .find_map(|(name, args)| find_on_path(name).map(|program| Self { program, args }))
    }

    /// Puts `text` in the clipboard.
    pub fn set(&self, text: &str) -> std::io::Result<()> {
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(text.as_bytes())?;
        }
        let status = child.wait()?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "{} failed ({status})",
                self.program.display()
            )))
        }
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

struct Card<'a> {
    token: &'a Token,
    correction: Correction,
    warnings: Vec<String>,
}

struct App<'a> {
    cards: Vec<Card<'a>>,
    state: TableState,
    clipboard: Option<Clipboard>,
    copied_at: Option<Instant>,
    status: String,
}

impl App<'_> {
    fn selected(&self) -> Option<&Card<'_>> {
        self.state.selected().and_then(|i| self.cards.get(i))
    }

    fn copy(&mut self, kind: PasswordKind) {
        let Some(card) = self.selected() else { return };
        let server_ms = local_now_ms().saturating_add(card.correction.offset_ms);
        let code = match crate::token_code(card.token, kind, server_ms) {
            Ok((c, _)) => Zeroizing::new(c),
            Err(e) => {
                self.status = e.to_string();
                return;
            }
        };
        let name = kind.name();
        self.status = match &self.clipboard {
            None => tr!(
                "no clipboard here (no display server with wl-copy, xclip or xsel): read the \
                 code from the screen",
                "اینجا کلیپ‌بوردی نیست (سرور نمایشی با wl-copy، xclip یا xsel نیست): رمز را از صفحه \
                 بخوانید"
            ),
            Some(clip) => match clip.set(&code) {
                Ok(()) => {
                    self.copied_at = Some(Instant::now());
                    let secs = CLIPBOARD_TTL.as_secs();
                    tr!(
                        "{name} copied; the clipboard is cleared in {secs} s",
                        "{name} کپی شد؛ کلیپ‌بورد تا {secs} ثانیهٔ دیگر پاک می‌شود"
                    )
                }
                Err(e) => tr!("could not copy: {e}", "کپی نشد: {e}"),
            },
        };
    }

    fn clear_clipboard(&mut self) {
        if let (Some(clip), Some(_)) = (&self.clipboard, self.copied_at.take()) {
            self.status = match clip.set("") {
                Ok(()) => tr!("the clipboard is cleared", "کلیپ‌بورد پاک شد"),
                Err(e) => tr!(
                    "could not clear the clipboard: {e}",
                    "کلیپ‌بورد پاک نشد: {e}"
                ),
            };
        }
    }

    fn step(&mut self, by: isize) {
        if self.cards.is_empty() {
            return;
        }
        let n = self.cards.len() as isize;
        let i = self.state.selected().unwrap_or(0) as isize;
        self.state.select(Some((i + by).rem_euclid(n) as usize));
    }
}

/// Runs the full-screen app on an opened vault until the user quits.
pub fn run(vault: Vault) -> Result<()> {
    let (now, boot) = (local_now_ms(), boot_now());
    let cards: Vec<Card<'_>> = vault
        .tokens()
        .iter()
        .map(|t| {
            let correction = crate::correction_for(&vault, t, now, boot.as_ref());
            let mut warnings =
                crate::correction_warnings(&t.bank_name, &correction, t.lifetime_secs);
            if vault.not_in_force(&t.token_id) {
                warnings.push(crate::not_in_force_warning(t));
            }
            Card {
                token: t,
                correction,
                warnings,
            }
        })
        .collect();
    let mut state = TableState::default();
    if !cards.is_empty() {
        state.select(Some(0));
    }
    let mut app = App {
        cards,
        state,
        clipboard: Clipboard::detect(),
        copied_at: None,
        status: String::new(),
    };

    let mut terminal = ratatui::try_init()
        .map_err(|e| AppError::Internal(format!("cannot set up the terminal: {e}")))?;
    let result = event_loop(&mut terminal, &mut app);
    ratatui::restore();
    // Never leave a code behind in the clipboard.
    app.clear_clipboard();
    result
}

fn event_loop(terminal: &mut ratatui::DefaultTerminal, app: &mut App<'_>) -> Result<()> {
    let io = |e: std::io::Error| AppError::Internal(format!("terminal: {e}"));
    loop {
        if app.copied_at.is_some_and(|t| t.elapsed() >= CLIPBOARD_TTL) {
            app.clear_clipboard();
        }
        terminal.draw(|f| draw(f, app)).map_err(io)?;
        if !event::poll(Duration::from_millis(250)).map_err(io)? {
            continue;
        }
        let Event::Key(key) = event::read().map_err(io)? else {
            continue;
        };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => return Ok(()),
            KeyCode::Down | KeyCode::Char('j') | KeyCode::Tab => app.step(1),
            KeyCode::Up | KeyCode::Char('k') | KeyCode::BackTab => app.step(-1),
            KeyCode::Char('c') => app.copy(PasswordKind::Second),
            KeyCode::Char('f') => app.copy(PasswordKind::First),
            _ => {}
        }
    }
}

fn draw(f: &mut Frame<'_>, app: &mut App<'_>) {
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Min(8), Constraint::Length(2)])
        .split(f.area());
    let cols = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(45), Constraint::Percentage(55)])
        .split(rows[0]);

    let n = app.cards.len();
    let title = tr!(" pooya · {n} cards ", " پویا · {n} کارت ");
    // Columns as wide as their widest entry, measured in terminal cells (a Persian label's
    // zero-width non-joiner takes none), so every card's bank and number start in one column.
    let column = |text: fn(&Token) -> &str| {
        let width = app
            .cards
            .iter()
            .map(|c| Span::raw(text(c.token)).width())
            .max()
            .unwrap_or(0);
        Constraint::Length(u16::try_from(width).unwrap_or(u16::MAX))
    };
    let widths = [
        column(|t| &t.label),
        column(|t| &t.bank_name),
        column(|t| &t.pan_masked),
    ];
    let card_rows = app.cards.iter().map(|c| {
        Row::new([
            Cell::from(Span::styled(
                c.token.label.as_str(),
                Style::new().add_modifier(Modifier::BOLD),
            )),
            Cell::from(c.token.bank_name.as_str()),
            Cell::from(Span::styled(
                c.token.pan_masked.as_str(),
                Style::new().fg(Color::Gray),
            )),
        ])
    });
    let table = Table::new(card_rows, widths)
        .column_spacing(2)
        .block(Block::default().borders(Borders::ALL).title(title))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ")
        .highlight_spacing(HighlightSpacing::Always);
    f.render_stateful_widget(table, cols[0], &mut app.state);

    let detail = Block::default().borders(Borders::ALL);
    match app.selected() {
        None => {
            let p = Paragraph::new(tr!(
                "no cards yet: add one with `pooya app --vault FILE add …`",
                "هنوز کارتی نیست: با `pooya app --vault FILE add …` یکی بیفزایید"
            ))
            .block(detail);
            f.render_widget(p, cols[1]);
        }
        Some(card) => {
            let t = card.token;
            let server_ms = local_now_ms().saturating_add(card.correction.offset_ms);
            let code =
                |kind| crate::token_code(t, kind, server_ms).unwrap_or_else(|e| (e.to_string(), 0));
            let (first, _) = code(PasswordKind::First);
            let (second, remaining) = code(PasswordKind::Second);
            let (first, second) = (Zeroizing::new(first), Zeroizing::new(second));
            let inner = detail.inner(cols[1]);
            f.render_widget(
                detail.title(format!(" {} · {} ", t.bank_name, t.label)),
                cols[1],
            );
            let parts = Layout::default()
                .direction(Direction::Vertical)
                .constraints([
                    Constraint::Length(1),
                    Constraint::Length(1),
                    Constraint::Length(2),
                    Constraint::Length(2),
                    Constraint::Length(1),
                    Constraint::Min(0),
                ])
                .split(inner);
            let big = Style::new().add_modifier(Modifier::BOLD).fg(Color::Cyan);
            let names = [
                tr!("card", "کارت"),
                PasswordKind::First.name(),
                PasswordKind::Second.name(),
            ];
            // The values in one column: names padded to the widest, in terminal cells.
            let name_width = names
                .iter()
                .map(|s| Span::raw(s).width())
                .max()
                .unwrap_or(0)
                + 2;
            let values = [
                Span::raw(t.pan_masked.as_str()),
                Span::styled(first.as_str(), big),
                Span::styled(second.as_str(), big),
            ];
            for ((name, value), part) in names.iter().zip(values).zip([0, 2, 3]) {
                let pad = " ".repeat(name_width.saturating_sub(Span::raw(name).width()));
                f.render_widget(
                    Paragraph::new(Line::from(vec![Span::raw(format!("{name}{pad}")), value])),
                    parts[part],
                );
            }
            let total = i64::from(t.lifetime_secs.max(1)) * 1000;
            let ratio = (remaining.clamp(0, total) as f64) / (total as f64);
            let secs = crate::cards::seconds_left(remaining);
            let gauge = Gauge::default()
                .gauge_style(Style::new().fg(bar_color(remaining, t.lifetime_secs)))
                .ratio(ratio)
                .label(tr!("{secs} s left", "{secs} ثانیه مانده"));
            f.render_widget(gauge, parts[4]);
            if !card.warnings.is_empty() {
                f.render_widget(
                    Paragraph::new(card.warnings.join(" "))
                        .style(Style::new().fg(Color::Yellow))
                        .wrap(ratatui::widgets::Wrap { trim: true }),
                    parts[5],
                );
            }
        }
    }

    let help = tr!(
        "↑/↓ card   c copy 2nd   f copy 1st   q quit",
        "↑/↓ کارت   c کپی رمز دوم   f کپی رمز اول   q خروج"
    );
    f.render_widget(
        Paragraph::new(vec![
            Line::from(Span::styled(help, Style::new().fg(Color::DarkGray))),
            Line::from(app.status.clone()),
        ]),
        rows[1],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_turns_orange_then_red() {
        assert_eq!(bar_color(120_000, 120), Color::Green);
        assert_eq!(bar_color(61_000, 120), Color::Green);
        assert_eq!(bar_color(60_000, 120), Color::Indexed(208));
        assert_eq!(bar_color(25_000, 120), Color::Indexed(208));
        assert_eq!(bar_color(24_000, 120), Color::Red);
        assert_eq!(bar_color(0, 120), Color::Red);
        assert_eq!(bar_color(-5, 120), Color::Red);
    }
}
