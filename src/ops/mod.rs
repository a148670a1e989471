//! The operations. STUB.

use crate::Env;

/// Runs one step: reads inputs, resolves the run, performs the operation, writes outputs.
pub async fn run(env: &Env) -> anyhow::Result<()> {
    let _ = env;
    Ok(())
}
