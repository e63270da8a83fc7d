//! The indicatif implementation of the library's `Progress` trait. Only the
//! CLI layer knows indicatif.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use chronicle::progress::{Progress, Unit};

pub struct TerminalProgress {
    bar: ProgressBar,
}

impl TerminalProgress {
    pub fn new() -> TerminalProgress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.enable_steady_tick(Duration::from_millis(200));
        TerminalProgress { bar }
    }
}

impl Progress for TerminalProgress {
    fn start(&self, label: &str, total: Option<u64>, unit: Unit) {
        let (known, unknown) = match unit {
            Unit::Bytes => (
                "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                "{msg} {spinner} {bytes} {binary_bytes_per_sec}",
            ),
            Unit::Events => (
                "{msg} [{bar:30}] {human_pos}/{human_len} events {per_sec} ETA {eta}",
                "{msg} {spinner} {human_pos} events {per_sec}",
            ),
        };
        self.bar.reset();
        match total {
            Some(total) => {
                self.bar.set_length(total);
                self.bar.set_style(
                    ProgressStyle::with_template(known)
                        .expect("template")
                        .progress_chars("=> "),
                );
            }
            None => {
                self.bar.unset_length();
                self.bar
                    .set_style(ProgressStyle::with_template(unknown).expect("template"));
            }
        }
        self.bar.set_message(label.to_string());
    }

    fn set_position(&self, position: u64) {
        self.bar.set_position(position);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
