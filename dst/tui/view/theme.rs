//! Colours that read on dark and light backgrounds; none with `NO_COLOR`.

use ratatui::style::{Color, Modifier, Style};

pub struct Theme {
    pub colors: bool,
}

impl Theme {
    pub fn fg(&self, c: Color) -> Style {
        if self.colors {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn accent(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn good(&self) -> Style {
        self.fg(Color::Green)
    }

    pub fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn dim(&self) -> Style {
        if self.colors {
            Style::new().add_modifier(Modifier::DIM)
        } else {
            Style::new()
        }
    }

    pub fn focused(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn gauge(&self, c: Color) -> Style {
        if self.colors {
            Style::new().fg(c)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    }

    pub fn status_bar(&self) -> Style {
        if self.colors {
            Style::new().bg(Color::Blue).fg(Color::White)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }
}
