// Argument helpers of the small simulator CLIs (`sim:soak`, `sim:node`): `--name value` pairs.

/** The value after `name` on the command line, if present. */
export function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** A non-negative integer option; exits with a USAGE error (status 1) on anything else. */
export function intArg(name: string, def: number | undefined): number | undefined {
  const v = arg(name);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    process.stderr.write(`error: USAGE: ${name} needs a non-negative integer, got ${v}\n`);
    process.exit(1);
  }
  return n;
}
