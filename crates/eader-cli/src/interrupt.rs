//! Ctrl-C: the binary owns the handler; the trainer only sees a stop flag.

use std::sync::OnceLock;

use eader_train::StopFlag;

static FLAG: OnceLock<Result<StopFlag, String>> = OnceLock::new();

/// The process-wide flag set by Ctrl-C (SIGINT/SIGTERM), installing the
/// handler on the first call: the first interrupt asks the run to finish its
/// step and write a checkpoint; a second one exits at once with status 130.
pub fn stop_flag() -> anyhow::Result<StopFlag> {
    FLAG.get_or_init(|| {
        let flag = StopFlag::new();
        let handler_flag = flag.clone();
        ctrlc::set_handler(move || {
            if handler_flag.is_set() {
                eprintln!("second interrupt: exiting without a checkpoint");
                std::process::exit(130);
            }
            handler_flag.request();
            eprintln!(
                "interrupt: finishing the current step, then writing a checkpoint (Ctrl-C again to quit now)"
            );
        })
        .map_err(|e| e.to_string())?;
        Ok(flag)
    })
    .clone()
    .map_err(|e| anyhow::anyhow!("cannot install the Ctrl-C handler: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigint_sets_the_flag() {
        let flag = stop_flag().unwrap();
        let again = stop_flag().unwrap();
        assert!(!flag.is_set());
        let status = std::process::Command::new("kill")
            .args(["-INT", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let start = std::time::Instant::now();
        while !again.is_set() && start.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(flag.is_set(), "the handler set the flag");
        flag.clear();
    }
}
