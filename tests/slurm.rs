//! The job array of the README's "Scale out" on a real Slurm cluster: tools/slurm/test.sh
//! starts a one-node cluster on localhost (installing Debian's slurm-wlm and munge when
//! missing), runs 4 array tasks over 40 faces, merges them with `report`, and cancels and
//! resumes a task; every daemon is stopped by its pid at the end. A machine where that
//! cannot run fails here with the script's message; it is never skipped.

use std::process::Command;

#[test]
fn a_slurm_job_array_completes_every_image_once_and_resumes_a_cancelled_task() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(format!("{root}/tools/slurm/test.sh"))
        .env("DCGAN_INPAINT", env!("CARGO_BIN_EXE_dcgan-inpaint"))
        .output()
        .expect("bash runs tools/slurm/test.sh");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{text}");
    assert!(out.status.success(), "tools/slurm/test.sh failed:\n{text}");
    assert!(text.contains("Slurm test passed"), "{text}");
}
