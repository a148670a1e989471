//! The `port-action` binary: runs one step and maps its result to the exit code.

fn main() {
    let env: port_action::Env = std::env::vars().collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(port_action::run(&env)) {
        Ok(()) => {}
        Err(_) => std::process::exit(1),
    }
}
