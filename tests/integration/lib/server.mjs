// Starting and stopping `amsiwatch serve` for one test, reading its output, its journal and its
// memory use. Every wait here is bounded.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const BIN = process.env.AMSIWATCH_BIN;

/** Milliseconds a wait may take, stretched when the binary is a sanitizer build (ASan or TSan). */
export const SLOW = (() => {
  if (!BIN) return 1;
  try {
    const r = spawnSync('sh', ['-c', `nm -D "${BIN}" 2>/dev/null | grep -c -E '__(a|t)san_init'`], {
      encoding: 'utf8',
      timeout: 10000,
    });
    if (Number.parseInt(r.stdout, 10) > 0) return 3;
  } catch {
    // not fatal: default timeouts
  }
  return 1;
})();

/**
 * `--LISTENER off` for every listener of `serve` but Beats (syslog, ...), read from `serve --help`
 * (lines "--NAME ADDR:PORT|off"): a test server listens on its own loopback port and nothing else,
 * so that it never collides with another server on a default port.
 */
export const OTHER_LISTENERS_OFF = (() => {
  if (!BIN) return [];
  const r = spawnSync(BIN, ['serve', '--help'], { encoding: 'utf8', timeout: 10000 });
  const out = [];
  for (const m of (r.stdout ?? '').matchAll(/^\s*--([\w-]+) ADDR:PORT\|off\b/gm)) {
    if (m[1] !== 'beats') out.push(`--${m[1]}`, 'off');
  }
  return out;
})();

export function tempDir(prefix = 'amsiwatch-beats-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Resolves like `promise`, or with `onTimeout` after ms if it has not settled by then; the timer
 * is cleared either way (a pending timer would keep the test process alive).
 */
export async function within(promise, ms, onTimeout = 'timeout') {
  let timer;
  const t = new Promise((resolve) => {
    timer = setTimeout(() => resolve(onTimeout), ms);
  });
  try {
    return await Promise.race([promise, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls fn until it returns a truthy value; throws `what` after timeoutMs. */
export async function waitFor(fn, timeoutMs, what, stepMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(stepMs);
  }
}

function sanitizerEnv() {
  const env = { ...process.env };
  // Keep what the caller chose; otherwise make sanitizer reports fail the process.
  env.ASAN_OPTIONS ??= 'detect_leaks=1:abort_on_error=1';
  env.UBSAN_OPTIONS ??= 'print_stacktrace=1:halt_on_error=1';
  // AddressSanitizer keeps up to 256 MB of freed blocks in quarantine by default: that is the
  // sanitizer's memory, not the server's, and would swamp the memory bounds these tests check.
  if (!/quarantine_size_mb/.test(env.ASAN_OPTIONS)) env.ASAN_OPTIONS += ':quarantine_size_mb=32';
  return env;
}

// Servers still running when this process goes (a test runner timeout, a crash, Ctrl-C) are
// killed with it: none is left behind holding a port.
const live = new Set();
function killLive() {
  for (const p of live) p.kill('SIGKILL');
}
process.on('exit', killLive);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killLive();
    process.kill(process.pid, sig);
  });
}

export class Server {
  /**
   * options:
   *   dataDir  the data directory (a new temporary one by default, removed by stop())
   *   args     more command-line options (e.g. ['--beats-idle-timeout', '1s'])
   *   env      more environment variables
   *   readyMs  how long to wait for the "ready" line
   */
  static async start({ dataDir, args = [], env = {}, readyMs = 15000 * SLOW } = {}) {
    if (!BIN) throw new Error('AMSIWATCH_BIN is not set (the path of the amsiwatch binary)');
    const s = new Server();
    s.ownDir = !dataDir;
    s.dataDir = dataDir ?? tempDir();
    s.args = args;
    s.env = env;
    try {
      await s._spawn(readyMs);
    } catch (e) {
      if (s.ownDir) removeDir(s.dataDir);
      throw e;
    }
    return s;
  }

  async _spawn(readyMs) {
    this.stdout = '';
    this.stderr = '';
    this.exit = null; // { code, signal } once exited
    const argv = ['serve', '--beats', '127.0.0.1:0', '--data-dir', this.dataDir];
    argv.push(...OTHER_LISTENERS_OFF, ...this.args);
    const proc = spawn(BIN, argv, {
      env: { ...sanitizerEnv(), ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(proc);
    proc.on('exit', () => live.delete(proc));
    this.proc = proc;
    this.pid = proc.pid;
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (d) => {
      this.stdout += d;
    });
    proc.stderr.on('data', (d) => {
      this.stderr += d;
    });
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    // 'exit' may come before the pipes are drained: 'close' waits for both.
    this.closed = new Promise((resolve) => proc.on('close', () => resolve(this.exit)));
    try {
      const m = await waitFor(
        () => {
          if (this.exit) {
            const how = JSON.stringify(this.exit);
            throw new Error(`amsiwatch serve exited (${how}) before it was ready:\n${this.stderr}`);
          }
          return /^ready beats=(\S+?):(\d+)(?:\s|$)/m.exec(this.stderr);
        },
        readyMs,
        `"ready beats=" from amsiwatch serve; stderr so far:\n${this.stderr}`,
        20,
      );
      this.host = m[1];
      this.port = Number(m[2]);
    } catch (e) {
      proc.kill('SIGKILL');
      throw e;
    }
  }

  /** Starts the process again on the same data directory (after a kill). */
  async restart({ args = this.args, env = this.env, readyMs = 15000 * SLOW } = {}) {
    if (!this.exit) throw new Error('restart() of a running server');
    this.args = args;
    this.env = env;
    await this._spawn(readyMs);
  }

  /** Resolves when stderr matches re (a RegExp), within timeoutMs. */
  waitForLog(re, timeoutMs = 10000 * SLOW) {
    return waitFor(() => re.exec(this.stderr), timeoutMs, `stderr to match ${re}:\n${this.stderr}`);
  }

  /** Alert documents printed on standard output so far. */
  alertsPrinted() {
    return this.stdout
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l));
  }

  /** { rssKiB, hwmKiB } from /proc/PID/status. */
  memory() {
    const text = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kib = (name) => {
      const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
      return m ? Number(m[1]) : NaN;
    };
    return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
  }

  running() {
    return this.exit === null;
  }

  /** Sends a signal and waits for the exit (SIGKILL after graceMs if it has not exited). */
  async stop(signal = 'SIGTERM', graceMs = 20000 * SLOW) {
    if (this.running()) {
      this.proc.kill(signal);
      if ((await within(this.closed, graceMs)) === 'timeout') {
        this.proc.kill('SIGKILL');
        await this.closed;
      }
    }
    await this.closed;
    return this.exit;
  }

  /** Stops the process (SIGKILL by default: tests that need a clean stop say so) and cleans up. */
  async dispose(signal = 'SIGKILL') {
    try {
      await this.stop(signal);
    } finally {
      if (this.ownDir) removeDir(this.dataDir);
    }
  }
}

/** Runs `amsiwatch journal SUBCOMMAND --data-dir DIR ...` to completion (bounded). */
export function journal(dataDir, sub, extra = [], timeoutMs = 60000 * SLOW) {
  const r = spawnSync(BIN, ['journal', sub, '--data-dir', dataDir, ...extra], {
    encoding: 'utf8',
    env: sanitizerEnv(),
    timeout: timeoutMs,
    maxBuffer: 256 << 20,
  });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Every journaled alert, parsed. */
export function journalExport(dataDir) {
  const r = journal(dataDir, 'export');
  if (r.status !== 0) {
    throw new Error(`journal export exited ${r.status} (${r.signal ?? ''}):\n${r.stderr}`);
  }
  return r.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}
