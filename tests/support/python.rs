//! Whether a Python peer can run here, with the suite's one policy: a
//! missing one skips its test with a line, unless `HYBI_INTEROP=1` (CI),
//! where it fails the test.

use std::process::{Command, Stdio};

/// Whether `python3 -c "import {import}"` succeeds; `what` names what is
/// missing in the skip line or the failure.
pub fn python_has(import: &str, what: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {import}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    if std::env::var("HYBI_INTEROP").as_deref() == Ok("1") {
        panic!("{what} not installed, and HYBI_INTEROP=1 requires it");
    }
    eprintln!("skipped: {what} not installed (set HYBI_INTEROP=1 to require)");
    false
}
