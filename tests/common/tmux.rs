//! A real terminal for the client: a private tmux server (its own `-L`
//! socket) running one command in a 100x30 window, read with `capture-pane`
//! and typed into with `send-keys`. Waiting polls the screen against a
//! deadline: the screen is the only event a terminal gives. Killed on drop.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Start `cmd` (a shell command line) in a new detached 100x30 session.
    pub fn start(cmd: &str) -> Tmux {
        Tmux::start_sized(cmd, 100, 30)
    }

    /// Start `cmd` in a new detached session of `cols` x `rows`.
    pub fn start_sized(cmd: &str, cols: u16, rows: u16) -> Tmux {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let tmux = Tmux {
            socket: format!(
                "chat-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::SeqCst)
            ),
        };
        let (x, y) = (cols.to_string(), rows.to_string());
        let out = tmux.run(&["new-session", "-d", "-s", "t", "-x", &x, "-y", &y, cmd]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        tmux
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux (is it installed? .ci/run installs it)")
    }

    /// What the window shows now.
    pub fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", "t"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Poll the screen until `pred` holds, or panic with the screen.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `tmux send-keys` with these arguments (`-l TEXT` for literal text, or key names).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success(), "send-keys {keys:?}");
    }

    /// Resize the window to `cols` x `rows`.
    pub fn resize(&self, cols: u16, rows: u16) {
        let (x, y) = (cols.to_string(), rows.to_string());
        let out = self.run(&["resize-window", "-t", "t", "-x", &x, "-y", &y]);
        assert!(out.status.success(), "resize-window: {out:?}");
    }

    /// Wait until the program in the window has been told its new size
    /// (tmux re-wraps the screen first and resizes the terminal a little
    /// later): the pane's terminal says `cols` x `rows`.
    pub fn wait_size(&self, cols: u16, rows: u16) {
        let out = self.run(&["display-message", "-p", "-t", "t", "#{pane_tty}"]);
        let tty = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let want = format!("{rows} {cols}");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let out = Command::new("stty")
                .args(["-F", &tty, "size"])
                .output()
                .expect("run stty");
            let size = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if size == want {
                return;
            }
            if Instant::now() > deadline {
                panic!("the terminal {tty} is {size}, not {want}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The screen and the scrollback above it.
    pub fn history(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-S", "-", "-t", "t"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Type `text` and press Enter.
    pub fn type_line(&self, text: &str) {
        self.keys(&["-l", text]);
        self.keys(&["Enter"]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The last non-empty line of a screen (where the prompt is).
pub fn prompt_line(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}
