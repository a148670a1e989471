//! The GitHub runner toolkit: what the runner tells a container action about its job (the
//! environment), and the ways the action talks back (workflow commands on stdout, the outputs
//! file, the job summary). It mirrors `@actions/core`, which is what workflow authors expect.

mod console;
mod files;
pub mod markdown;

pub use console::Console;
pub use files::{parse_github_output, write_step_file, Outputs, StepSummary};

use crate::Env;

/// What the runner says about the job this step runs in.
#[derive(Debug, Clone, Default)]
pub struct JobContext {
    /// `GITHUB_SERVER_URL`, e.g. `https://github.com`.
    pub server_url: String,
    /// `GITHUB_REPOSITORY`, `owner/name`.
    pub repository: Option<String>,
    /// `GITHUB_RUN_ID`.
    pub run_id: Option<String>,
    /// `GITHUB_RUN_ATTEMPT`.
    pub run_attempt: Option<String>,
    /// `GITHUB_JOB`: the job's key in the workflow YAML.
    pub job: Option<String>,
    /// `GITHUB_EVENT_NAME`.
    pub event_name: Option<String>,
    /// `GITHUB_EVENT_PATH`.
    pub event_path: Option<String>,
    /// `GITHUB_OUTPUT`.
    pub output_path: Option<String>,
    /// `GITHUB_STATE`: what a main stage leaves for its post stage.
    pub state_path: Option<String>,
    /// `GITHUB_REPOSITORY_OWNER_ID` and `GITHUB_REPOSITORY_ID`: the numeric ids Port's GitHub
    /// integration puts in a run's `externalRunId`.
    pub repository_owner_id: Option<String>,
    pub repository_id: Option<String>,
    /// `GITHUB_STEP_SUMMARY`.
    pub summary_path: Option<String>,
    /// `RUNNER_DEBUG=1`: debug logging is on.
    pub debug: bool,
    /// `GITHUB_WORKSPACE`: where files for later steps are written.
    pub workspace: Option<String>,
    /// `GITHUB_ACTION`: this step's id in the job (`__run_2`, or the `id:` given).
    pub step_id: Option<String>,
}

impl JobContext {
    /// Reads the job context from the environment; empty values count as absent.
    pub fn from_env(env: &Env) -> Self {
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        JobContext {
            server_url: get("GITHUB_SERVER_URL")
                .map(|s| s.trim_end_matches('/').to_string())
                .unwrap_or_else(|| "https://github.com".to_string()),
            repository: get("GITHUB_REPOSITORY"),
            run_id: get("GITHUB_RUN_ID"),
            run_attempt: get("GITHUB_RUN_ATTEMPT"),
            job: get("GITHUB_JOB"),
            event_name: get("GITHUB_EVENT_NAME"),
            event_path: get("GITHUB_EVENT_PATH"),
            output_path: get("GITHUB_OUTPUT"),
            state_path: get("GITHUB_STATE"),
            repository_owner_id: get("GITHUB_REPOSITORY_OWNER_ID"),
            repository_id: get("GITHUB_REPOSITORY_ID"),
            summary_path: get("GITHUB_STEP_SUMMARY"),
            debug: get("RUNNER_DEBUG").as_deref() == Some("1"),
            workspace: get("GITHUB_WORKSPACE"),
            step_id: get("GITHUB_ACTION"),
        }
    }

    /// `gh_{owner id}_{repository id}_{run id}`: the `externalRunId` Port's GitHub integration
    /// gives the run it dispatched this workflow for. `None` unless all three ids are numbers.
    pub fn external_run_id(&self) -> Option<String> {
        let ids = [
            self.repository_owner_id.as_deref()?,
            self.repository_id.as_deref()?,
            self.run_id.as_deref()?,
        ];
        if ids
            .iter()
            .any(|id| id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        Some(format!("gh_{}_{}_{}", ids[0], ids[1], ids[2]))
    }

    /// The URL of the workflow run: `…/actions/runs/{run_id}`.
    pub fn workflow_run_url(&self) -> Option<String> {
        Some(format!(
            "{}/{}/actions/runs/{}",
            self.server_url,
            self.repository.as_deref()?,
            self.run_id.as_deref()?
        ))
    }

    /// The URL of this job: `…/job/{job_id}` when the numeric job id is known (the `jobId`
    /// input defaults to `${{ job.check_run_id }}`), else the run attempt's page.
    pub fn job_url(&self, job_id: Option<&str>) -> Option<String> {
        let run = self.workflow_run_url()?;
        match job_id {
            Some(id) => Some(format!("{run}/job/{id}")),
            None => Some(format!(
                "{run}/attempts/{}",
                self.run_attempt.as_deref().unwrap_or("1")
            )),
        }
    }
}
