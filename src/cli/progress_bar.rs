//! The indicatif implementation of the library's `Progress` trait. Only the
//! CLI layer knows indicatif.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use chronicle::progress::{Progress, Unit};

use super::thousands;

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
                "{msg} [{bar:30}] {human_pos}/{human_len} events {rate} ETA {eta}",
                "{msg} {spinner} {human_pos} events {rate}",
            ),
        };
        // The new label first: every change below redraws the bar, and a
        // job's bar must never show under the previous job's label.
        self.bar.set_message(label.to_string());
        match total {
            Some(total) => {
                self.bar.set_length(total);
                self.bar.set_style(
                    ProgressStyle::with_template(known)
                        .expect("template")
                        .with_key("rate", rate_key)
                        .progress_chars("=> "),
                );
            }
            None => {
                self.bar.unset_length();
                self.bar.set_style(
                    ProgressStyle::with_template(unknown)
                        .expect("template")
                        .with_key("rate", rate_key),
                );
            }
        }
        self.bar.reset();
    }

    fn set_position(&self, position: u64) {
        self.bar.set_position(position);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// `{rate}`: whole events per second with thousands separators
/// (`54,782/s`), where indicatif's `{per_sec}` prints `54782.1854/s`.
fn rate_key(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = w.write_str(&rate(state.per_sec()));
}

fn rate(per_sec: f64) -> String {
    let whole = if per_sec.is_finite() && per_sec > 0.0 {
        per_sec.round() as u64
    } else {
        0
    };
    format!("{}/s", thousands(whole))
}

#[cfg(test)]
mod tests {
    use super::rate;

    #[test]
    fn rates_are_whole_numbers_with_thousands_separators() {
        assert_eq!(rate(54782.1854), "54,782/s");
        assert_eq!(rate(1_234_567.5), "1,234,568/s");
        assert_eq!(rate(0.4), "0/s");
        assert_eq!(rate(f64::NAN), "0/s");
    }
}
