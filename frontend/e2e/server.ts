// Runs a real Concierge for the browser tests: a fresh database (created as the owner role, which
// has CREATEDB), `concierge migrate`, `concierge seed --demo`, then `concierge serve` on a free
// port with its own Redis key prefix and the built web app. Ready when the server prints its
// "listening" line (no sleeps); everything is undone by `stop()`: the server is terminated (then
// killed if it lingers), the database dropped, the Redis keys deleted.
//
// Needs: the binary (`cargo build --bin concierge`, or CONCIERGE_BIN), the built app
// (`npm run build`, or WEB_DIR), the local Postgres and Redis (`just services`), and `psql`.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

/** The repository root (frontend/e2e/ is two levels down). */
export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
/** Where screenshots and the server log go (git-ignored). */
export const ARTIFACTS = path.join(REPO_ROOT, 'artifacts', 'e2e');

const PG_PORT = process.env.CONCIERGE_PG_PORT ?? '55432';
const REDIS_PORT = process.env.CONCIERGE_REDIS_PORT ?? '56379';
const OWNER = `postgres://concierge:concierge@127.0.0.1:${PG_PORT}`;
const APP = `postgres://concierge_app:concierge_app@127.0.0.1:${PG_PORT}`;

/** A migration or a seed of a debug build takes seconds; a minute means something is stuck. */
const COMMAND_TIMEOUT_MS = 120_000;
/** How long `serve` may take to print its "listening" line. */
const START_TIMEOUT_MS = 60_000;
/** How long the server gets to shut down gracefully before it is killed. */
const STOP_TIMEOUT_MS = 10_000;

/** A running server. */
export interface Concierge {
  /** `http://127.0.0.1:PORT`, from the server's own "listening" line. */
  url: string;
  /** The server's `REDIS_KEY_PREFIX` (its pub/sub channels start with it). */
  redisPrefix: string;
  stop: () => Promise<void>;
}

function run(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { ...options, timeout: COMMAND_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${path.basename(file)} ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
        } else {
          resolve(stdout);
        }
      },
    );
  });
}

function psql(sql: string): Promise<string> {
  return run('psql', [`${OWNER}/postgres`, '-v', 'ON_ERROR_STOP=1', '-qAtc', sql]);
}

/** The environment of every concierge command: only what the test decides, no provider keys. */
function serverEnv(database: string, redisPrefix: string, webDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // Keep what a process needs to run (PATH, HOME, locale); drop every Concierge, database and
  // provider setting of the developer's shell, so the offline provider answers deterministically.
  for (const key of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'USER']) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return {
    ...env,
    CONCIERGE_ENV: 'development',
    DATABASE_URL: `${APP}/${database}`,
    DATABASE_ADMIN_URL: `${OWNER}/${database}`,
    REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}`,
    REDIS_KEY_PREFIX: redisPrefix,
    BIND_ADDR: '127.0.0.1:0',
    WEB_DIR: webDir,
    LLM_PROVIDER: 'offline',
    EMBEDDER: 'hash',
    LOG_FORMAT: 'human',
    NO_COLOR: '1',
    RUST_LOG: process.env.E2E_RUST_LOG ?? 'info,sqlx=warn,sea_orm=warn,fred=warn',
  };
}

/** Resolves with the URL from the "listening" line; rejects if the server exits or is too slow. */
function waitForListening(child: ChildProcess, stderrTail: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdout = child.stdout;
    if (stdout === null) {
      reject(new Error('the server has no stdout'));
      return;
    }
    const lines = createInterface({ input: stdout });
    const finish = (error: Error | null, url?: string) => {
      clearTimeout(timer);
      lines.close();
      child.off('exit', onExit);
      if (error) reject(error);
      else if (url !== undefined) resolve(url);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      finish(new Error(`concierge serve exited (${signal ?? `code ${code}`}) before listening:\n${stderrTail()}`));
    };
    const timer = setTimeout(() => {
      finish(new Error(`concierge serve did not print its listening line in ${START_TIMEOUT_MS / 1000}s:\n${stderrTail()}`));
    }, START_TIMEOUT_MS);
    child.on('exit', onExit);
    lines.on('line', (line) => {
      const match = /Concierge is listening on (http:\/\/\S+)/.exec(line);
      if (match?.[1] !== undefined) finish(null, match[1].replace(/\/$/, ''));
    });
  });
}

function stopProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    const killer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * How many Redis connections are subscribed to `user`'s event channel (`PREFIX:user:ID`, see
 * agent/src/bus.rs). A server subscribes to it when the first subscription of that user starts,
 * so above zero the user's events reach the server's WebSocket subscribers.
 */
export async function userChannelSubscribers(redisPrefix: string, user: string): Promise<number> {
  const reply = await run('redis-cli', ['-p', REDIS_PORT, 'PUBSUB', 'NUMSUB', `${redisPrefix}:user:${user}`]);
  // redis-cli prints the channel, then its count, one per line.
  return Number(reply.trim().split('\n')[1] ?? '0');
}

async function deleteRedisKeys(prefix: string): Promise<void> {
  try {
    const keys = (await run('redis-cli', ['-p', REDIS_PORT, '--scan', '--pattern', `${prefix}*`]))
      .split('\n')
      .filter((k) => k !== '');
    for (let i = 0; i < keys.length; i += 500) {
      await run('redis-cli', ['-p', REDIS_PORT, 'DEL', ...keys.slice(i, i + 500)]);
    }
  } catch {
    // redis-cli missing or Redis gone: the keys carry a unique prefix and harm nobody.
  }
}

/** Starts a fresh Concierge with the demo data. */
export async function startConcierge(): Promise<Concierge> {
  const bin = process.env.CONCIERGE_BIN ?? path.join(REPO_ROOT, 'target', 'debug', 'concierge');
  const webDir = process.env.WEB_DIR ?? path.join(REPO_ROOT, 'frontend', 'dist');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`cargo build --bin concierge\` (or \`just e2e\`)`);
  if (!existsSync(path.join(webDir, 'index.html'))) {
    throw new Error(`${webDir}/index.html is missing: run \`npm run build\` in frontend/ (or \`just e2e\`)`);
  }

  const suffix = `${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const database = `concierge_e2e_${suffix}`;
  const redisPrefix = `concierge-e2e-${suffix}`;
  // A working directory of its own: no developer .env file is read.
  const cwd = mkdtempSync(path.join(tmpdir(), 'concierge-e2e-'));
  const env = serverEnv(database, redisPrefix, webDir);

  const cleanup = async () => {
    await psql(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).catch((e: unknown) => {
      console.error(`could not drop ${database}: ${String(e)}`);
    });
    await deleteRedisKeys(redisPrefix);
    rmSync(cwd, { recursive: true, force: true });
  };

  await psql(`CREATE DATABASE "${database}"`);
  let child: ChildProcess | null = null;
  try {
    await run(bin, ['migrate'], { env, cwd });
    await run(bin, ['seed', '--demo'], { env, cwd });

    child = spawn(bin, ['serve'], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = createWriteStream(path.join(ARTIFACTS, 'server.log'));
    let tail = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      log.write(chunk);
      tail = (tail + chunk.toString()).slice(-4000);
    });
    const url = await waitForListening(child, () => tail);
    const server = child;
    return {
      url,
      redisPrefix,
      stop: async () => {
        await stopProcess(server);
        log.end();
        await cleanup();
      },
    };
  } catch (error) {
    if (child !== null) await stopProcess(child);
    await cleanup();
    throw error;
  }
}
