/**
 * The help of `warden start`'s options: what each one means and its default, keyed by configuration key so the
 * option table in config.ts stays the one list of flags. Pure text; it never reads the environment.
 */

/** Meaning and value placeholder of each option, by config key. */
const DESCRIPTIONS: Record<string, { value?: string; text: string }> = {
  dataDir: { value: 'DIR', text: 'store, keys, TLS pair, admin token and ports.json (all 0600, dir 0700)' },
  listenHost: { value: 'HOST', text: 'address of every listener (loopback unless you open it)' },
  apiPort: { value: 'PORT', text: 'control API port; 0 picks a free port' },
  postgresPort: { value: 'PORT', text: 'PostgreSQL listener port; 0 picks a free port' },
  allowPlaintextLoopback: { text: 'accept tokens without TLS, on a loopback listener only' },
  logLevel: { value: 'LEVEL', text: 'fatal, error, warn, info, debug, trace or silent (JSON logs on stderr)' },
  maxMessageBytes: { value: 'N', text: 'largest Query/Parse/Bind a caller may send, in bytes (COPY data is not limited)' },
  defaultEffect: { value: 'EFFECT', text: 'deny or allow: what happens to a statement no policy rule matches' },
  webhookUrls: { value: 'URLS', text: 'JSON webhooks told about approval requests and decisions (comma-separated)' },
  slackWebhookUrls: { value: 'URLS', text: 'Slack-compatible incoming webhooks (comma-separated)' },
  publicUrl: { value: 'URL', text: 'how people reach this Warden: links in notifications, sign-in callbacks' },
};

/** A default as shown in help: `off` for false, `none` for an empty list or no value, else the value. */
function shown(value: unknown): string {
  if (value === false) return 'off';
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return 'none';
  return String(value);
}

/**
 * One block per flag: `--flag VALUE` and its environment variable on the first line, then its meaning and default
 * (defaults are the schema's own, passed in, so help can never disagree with behaviour).
 */
export function formatStartOptions(options: ReadonlyArray<{ flag: string | null; env: string; key: string }>,
  defaults: Record<string, unknown>): string {
  return options.filter((o) => o.flag).map((o) => {
    const d = DESCRIPTIONS[o.key] ?? { text: '' };
    const left = `  --${o.flag}${d.value ? ` ${d.value}` : ''}`;
    const fallback = o.key === 'publicUrl' ? 'the API\'s own address' : shown(defaults[o.key]);
    return `${left.padEnd(32)} ${o.env}\n      ${d.text} (default: ${fallback})`;
  }).join('\n');
}
