//! Progress: bars on a terminal, plain lines otherwise, nothing with `--quiet`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// How a command reports its progress.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    quiet: bool,
    terminal: bool,
}

impl Progress {
    /// Bars when standard error is a terminal, plain lines when not, nothing when `quiet`.
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// A line (above any bar).
    pub fn line(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// A bar of `len` steps; on a terminal it redraws, elsewhere only its last line is
    /// printed when it finishes.
    pub fn bar(&self, len: u64, what: &str) -> Bar {
        let bar = if self.quiet || !self.terminal {
            ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden())
        } else {
            let bar = ProgressBar::new(len);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:<40} [{bar:30}] {pos}/{len} {elapsed_precise} (eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        };
        bar.set_message(what.to_string());
        Bar {
            bar,
            progress: *self,
            plain_tenth: std::cell::Cell::new(0),
            plain_lines: false,
        }
    }
}

/// One bar.
pub struct Bar {
    bar: ProgressBar,
    progress: Progress,
    /// Without a terminal: the last tenth of a long bar reported as a plain line.
    plain_tenth: std::cell::Cell<u64>,
    plain_lines: bool,
}

impl Bar {
    /// Without a terminal, prints a plain line at every tenth of the way (for one long step,
    /// such as embedding, whose bar would otherwise say nothing for minutes).
    pub fn with_plain_lines(mut self) -> Self {
        self.plain_lines = true;
        self
    }

    /// Moves the bar to `pos`.
    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
        let len = self.bar.length().unwrap_or(0);
        if self.plain_lines && !self.progress.quiet && !self.progress.terminal && len > 0 {
            let tenth = 10 * pos / len;
            if tenth > self.plain_tenth.get() {
                self.plain_tenth.set(tenth);
                eprintln!("{}: {pos}/{len}", self.bar.message());
            }
        }
    }

    /// Sets the total.
    pub fn set_length(&self, len: u64) {
        self.bar.set_length(len);
    }

    /// Sets the text beside the bar.
    pub fn set_message(&self, text: String) {
        self.bar.set_message(text);
    }

    /// Follows a training loop's steps: the bar is the epoch's steps, the text `what` and
    /// the epoch.
    pub fn on_step(&self, what: &str, event: &tl::tl_core::train::ProgressEvent) {
        if let tl::tl_core::train::ProgressEvent::Step {
            epoch, step, steps, ..
        } = event
        {
            self.set_length(*steps as u64);
            self.set_position(*step as u64);
            self.set_message(format!("{what}, epoch {epoch}"));
        }
    }

    /// Prints `text` as a line above the bar (on a terminal) or as a plain line (elsewhere);
    /// nothing with `--quiet`.
    pub fn note(&self, text: &str) {
        if self.progress.quiet {
            return;
        }
        if self.progress.terminal {
            self.bar.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    /// Clears the bar and prints `text` as a line.
    pub fn finish(&self, text: &str) {
        self.bar.finish_and_clear();
        self.progress.line(text);
    }
}
