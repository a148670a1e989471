// Reads the run from the Port stand-in after track's post step and checks how it ended.
const input = (name) => (process.env[`INPUT_${name.toUpperCase()}`] || "").trim();

async function main() {
  const base = input("baseUrl").replace(/\/$/, "");
  const runId = input("runId");
  const want = input("status");
  const jobUrl = input("jobUrl");
  const auth = await fetch(`${base}/v1/auth/access_token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ clientId: input("clientId"), clientSecret: input("clientSecret") }),
  });
  const { accessToken } = await auth.json();
  const answer = await fetch(`${base}/v1/actions/runs/${encodeURIComponent(runId)}?version=v2`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  const { run } = await answer.json();
  const links = Array.isArray(run.link) ? run.link : [run.link];
  const problems = [];
  if (run.status !== want) problems.push(`status is ${run.status}, not ${want}`);
  if (!links.includes(jobUrl)) problems.push(`links ${JSON.stringify(links)} lack ${jobUrl}`);
  if (!run.summary) problems.push("no summary");
  if (problems.length === 0) {
    console.log(`::notice title=track-check::run ${runId} ended ${want} as expected`);
  } else {
    console.log(`::error title=track-check::run ${runId}: ${problems.join("; ")}`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.log(`::error title=track-check::${String(e).replace(/\r?\n/g, " ")}`);
  process.exitCode = 1;
});
