//! Terminal modes through `rustix` (termios calls, no `stty` process).
//!
//! [`quiet`] saves the terminal's mode and sets a quiet one for the moments
//! between two prompts: no echo, no line editing by the kernel, no signal
//! keys, carriage returns kept as typed. What is typed while a command runs
//! then waits unseen in the kernel's buffer for the next prompt, which reads
//! it like live typing (rustyline saves the mode it finds and puts it back
//! after each line, so it keeps this one). [`restore`] puts the saved mode back
//! on the way out.

use rustix::termios::{self, InputModes, LocalModes, OptionalActions, Termios};
use std::sync::OnceLock;

/// The terminal's mode before the client changed it.
static SAVED: OnceLock<Termios> = OnceLock::new();

/// Save the mode of the terminal on stdin (once) and make it quiet.
pub fn quiet() -> Result<(), String> {
    let stdin = std::io::stdin();
    let now = termios::tcgetattr(&stdin)
        .map_err(|e| format!("cannot read the terminal's mode ({e}); is stdin a terminal?"))?;
    let _ = SAVED.set(now.clone());
    let mut q = now;
    q.local_modes
        .remove(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG | LocalModes::IEXTEN);
    q.input_modes.remove(InputModes::ICRNL);
    termios::tcsetattr(&stdin, OptionalActions::Drain, &q)
        .map_err(|e| format!("cannot set the terminal's mode ({e})"))
}

/// Put back the mode saved by [`quiet`], and turn bracketed paste off (the
/// prompt turns it on); nothing if the mode was never saved.
pub fn restore() {
    if let Some(saved) = SAVED.get() {
        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Drain, saved);
        eprint!("\x1b[?2004l");
    }
}
