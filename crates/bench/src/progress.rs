//! Progress on stderr: one line rewritten in place on a terminal (cleared
//! before anything else is printed), one line per window otherwise.

use std::io::{IsTerminal, Write};

/// The stderr progress line.
#[derive(Debug)]
pub struct Progress {
    terminal: bool,
    line_shown: bool,
}

impl Progress {
    /// Progress for this process's stderr.
    pub fn new() -> Progress {
        Progress {
            terminal: std::io::stderr().is_terminal(),
            line_shown: false,
        }
    }

    /// Shows `text` as the current progress.
    pub fn update(&mut self, text: &str) {
        if self.terminal {
            eprint!("\r\x1b[2K{text}");
            let _ = std::io::stderr().flush();
            self.line_shown = true;
        } else {
            eprintln!("{text}");
        }
    }

    /// Prints `text` as a line of its own, below any progress.
    pub fn note(&mut self, text: &str) {
        self.clear();
        eprintln!("{text}");
    }

    /// Removes the progress line, so that what follows starts clean.
    pub fn clear(&mut self) {
        if self.line_shown {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
            self.line_shown = false;
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}
