"use strict";
// The launcher of port-action/native: runs the port-action binary built for this runner's
// platform, as the container action runs it in its image, on any runner GitHub's node runs on.
//
// A release holds the binaries beside this file, `bin/<platform>-<arch>/port-action[.exe]`,
// and their SHA-256 in `SHA256SUMS` (sha256sum's format, paths relative to this folder). The
// launcher checks the binary against its line, makes it executable where the download lost
// the mode, and runs it with the environment the runner gave (INPUT_*, STATE_*, GITHUB_*):
// stdout and stderr are the binary's own, cancellation reaches it, and its exit code is the
// step's. When it cannot run the right binary it prints one error and sends nothing.
//
// `PORT_ACTION_BINARY` names a binary to run instead, unchecked: for a branch, which holds
// no binaries, and for tests and benchmarks.
//
// No dependencies: it runs on the runner's node as it is, from the action's downloaded tree.

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

/** The platforms a release ships a binary for, as node names them. */
const TARGETS = ["linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64", "win32-x64"];
const SUMS = "SHA256SUMS";
const RELEASE_TAGS =
  "a release tag, such as getport-community/port-action/native@v1 (or @vX.Y.Z)";

/** Why the launcher cannot run the binary: the one error it prints. */
class LaunchError extends Error {}

/** Text as the data of a workflow command: it cannot end the line or start another. */
function escapeData(text) {
  return String(text).replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

/** `bin/<platform>-<arch>/port-action[.exe]`, relative to the launcher's folder. */
function binaryPath(platform, arch) {
  return `bin/${platform}-${arch}/port-action${platform === "win32" ? ".exe" : ""}`;
}

/** The sums of `SHA256SUMS`, by path: `<hex>  <path>` (or `<hex> *<path>`) a line. */
function parseSums(text) {
  const sums = new Map();
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line);
    if (m) sums.set(m[2], m[1].toLowerCase());
  }
  return sums;
}

function sha256(file) {
  // Loaded here: a run through PORT_ACTION_BINARY does not pay for it.
  const crypto = require("node:crypto");
  return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/**
 * The binary to run: `{ file, note }`, where `note` is the line to log before it runs (or
 * null). Throws a LaunchError saying what was expected and what to do.
 */
function resolveBinary({ root, platform, arch, env }) {
  const named = env.PORT_ACTION_BINARY;
  if (named) {
    if (!fs.existsSync(named)) {
      throw new LaunchError(
        `PORT_ACTION_BINARY is ${JSON.stringify(named)}, which does not exist: set it to a ` +
          "port-action binary you built (cargo build --release --bin port-action), or unset it " +
          `and use ${RELEASE_TAGS}; nothing was sent`,
      );
    }
    return {
      file: named,
      note:
        `port-action/native: running ${JSON.stringify(named)} from PORT_ACTION_BINARY, ` +
        "without a SHA-256 check (only a release's own binaries are checked)",
    };
  }
  const target = `${platform}-${arch}`;
  if (!TARGETS.includes(target)) {
    throw new LaunchError(
      `no port-action binary for ${platform} ${arch}: port-action/native ships binaries for ` +
        "Linux (x64, arm64), macOS (x64, arm64) and Windows (x64); run the job on one of " +
        "these, or use the container action getport-community/port-action on a Linux runner " +
        "with Docker; nothing was sent",
    );
  }
  const rel = binaryPath(platform, arch);
  const file = path.join(root, ...rel.split("/"));
  const sumsFile = path.join(root, SUMS);
  const haveSums = fs.existsSync(sumsFile);
  const haveBinary = fs.existsSync(file);
  if (!haveSums && !haveBinary) {
    throw new LaunchError(
      `expected the binary ${rel} and ${SUMS} in ${root}, found neither: this ref of ` +
        "port-action/native is not a release, and only a release carries the binaries; use " +
        `${RELEASE_TAGS}, or set PORT_ACTION_BINARY to a port-action binary you built; ` +
        "nothing was sent",
    );
  }
  if (!haveSums) {
    throw new LaunchError(
      `expected ${SUMS} beside ${rel} in ${root}, to check the binary before running it, but ` +
        `it is missing: use the action's files as released, from ${RELEASE_TAGS}; nothing ` +
        "was sent",
    );
  }
  const expected = parseSums(fs.readFileSync(sumsFile, "utf8")).get(rel);
  if (!expected) {
    throw new LaunchError(
      `expected a line for ${rel} in ${path.join(root, SUMS)}, found none: use the action's ` +
        `files as released, from ${RELEASE_TAGS}; nothing was sent`,
    );
  }
  if (!haveBinary) {
    throw new LaunchError(
      `expected the binary ${rel} in ${root} (${SUMS} lists it), but it is missing: the ` +
        "action's files are incomplete; re-run the job, so that the runner downloads the " +
        `action again, and use ${RELEASE_TAGS}; nothing was sent`,
    );
  }
  const actual = sha256(file);
  if (actual !== expected) {
    throw new LaunchError(
      `${rel} has SHA-256 ${actual}, but ${SUMS} expects ${expected}: the binary is not the ` +
        "one released; re-run the job, so that the runner downloads the action again, and " +
        `use ${RELEASE_TAGS}; nothing was sent`,
    );
  }
  if (platform !== "win32") {
    makeExecutable(file, rel);
  }
  return { file, note: `::debug::port-action/native: ${rel}, SHA-256 ${actual} as in ${SUMS}` };
}

/** A download may come without file modes (a zipball): set the executable bits. */
function makeExecutable(file, rel) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return;
  } catch {
    // Not executable yet.
  }
  try {
    fs.chmodSync(file, 0o755);
  } catch (e) {
    throw new LaunchError(
      `${rel} is not executable and cannot be made so (${e.message}): the action's folder ` +
        "must be writable by the runner's user; nothing was sent",
    );
  }
}

/**
 * Runs the binary with `args` (`[]`, `["track"]`, `["track", "--post"]`) and ends this process
 * with its exit code.
 */
function main(args) {
  let binary;
  try {
    binary = resolveBinary({
      root: __dirname,
      platform: process.platform,
      arch: process.arch,
      env: process.env,
    });
  } catch (e) {
    // Anything else (an unreadable SHA256SUMS, say) is said the same way: one line.
    const message =
      e instanceof LaunchError
        ? e.message
        : `cannot check the port-action binary in ${__dirname}: ${e.message}; nothing was sent`;
    process.stdout.write(`::error title=port-action/native::${escapeData(message)}\n`);
    process.exitCode = 1;
    return;
  }
  if (binary.note) {
    process.stdout.write(`${binary.note}\n`);
  }
  const child = spawn(binary.file, args, {
    stdio: "inherit",
    env: process.env,
    windowsHide: true,
  });
  // Cancellation: the runner sends SIGINT, then SIGTERM, to this process; the binary stops
  // sending and writes what it did. On Windows the runner's Ctrl-C and Ctrl-Break go to the
  // whole console, the binary included: the launcher only waits for it.
  const forward = (signal) => {
    if (process.platform !== "win32" && child.exitCode === null) {
      child.kill(signal);
    }
  };
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, () => forward(signal));
  }
  if (process.platform === "win32") {
    process.on("SIGBREAK", () => {});
  }
  child.on("error", (e) => {
    process.stdout.write(
      `::error title=port-action/native::${escapeData(
        `cannot start ${binary.file} (${e.code || e.message}): it must be an executable ` +
          "port-action binary for this runner; nothing was sent",
      )}\n`,
    );
    process.exitCode = 1;
  });
  child.on("exit", (code, signal) => {
    if (signal) {
      process.stdout.write(
        `::error title=port-action/native::${escapeData(
          `port-action was ended by ${signal} before it could finish`,
        )}\n`,
      );
      process.exitCode = 1;
    } else {
      process.exitCode = code;
    }
  });
}

module.exports = { main, resolveBinary, parseSums, binaryPath, escapeData, TARGETS, LaunchError };
