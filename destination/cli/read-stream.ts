// What `mesh endpoints|profile|policy` share: flags for reaching the destination, and a loop that
// prints each streamed message (the first only, unless following with -w).
import type * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import { parseCommandArgs, UsageError } from '../../cli/args.ts';
import { DemoNotFound, findDemo } from '../../cli/find-demo.ts';
import { destinationStubs, type DestinationStubs } from '../../api/destination-channel.ts';

export const CONNECTION_USAGE = `connection (flags win; then the environment; then the running demo's state folder):
  --addr ADDR             the destination (default $MESH_DESTINATION_ADDR, else the running demo's)
  --trust-anchors FILE    PEM the destination's certificate must chain to (default $MESH_TRUST_ANCHORS, else the running demo's)
  --state DIR             the demo's state folder (default $MESH_STATE_DIR, else the nearest .mesh-state/ above the working directory, else the project's)
  --server-identity ID    SPIFFE id the destination must present (default: any from the trust anchors)
  -w, --watch             keep streaming changes until Ctrl-C
  --json                  print each message as one JSON line`;

export const CONNECTION_OPTIONS = {
  addr: { type: 'string' },
  'trust-anchors': { type: 'string' },
  state: { type: 'string' },
  'server-identity': { type: 'string' },
  watch: { type: 'boolean', short: 'w', default: false },
  json: { type: 'boolean', default: false },
} as const satisfies ParseArgsConfig['options'];

/** The command's own flags plus the connection flags, and exactly `count` positionals (`expected` says what). */
export function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, count: number, expected: string) {
  return parseCommandArgs(args, { ...CONNECTION_OPTIONS, ...options }, { positionals: { count, expected } });
}

export function connect(values: { addr?: string; 'trust-anchors'?: string; 'server-identity'?: string; state?: string }): DestinationStubs {
  let anchorsFile = values['trust-anchors'] ?? process.env['MESH_TRUST_ANCHORS'];
  let addr = values.addr ?? process.env['MESH_DESTINATION_ADDR'];
  if (!anchorsFile || !addr) {
    // What was not given comes from the running demo; without one, say so and how to start it.
    let demo;
    try {
      demo = findDemo({ flag: values.state });
    } catch (err) {
      if (!(err instanceof DemoNotFound)) throw err;
      throw new DemoNotFound(err.code, `${err.message}
  or name the destination yourself: --addr ADDR --trust-anchors FILE`, { cause: err });
    }
    anchorsFile ??= demo.trustAnchorsFile;
    addr ??= demo.destinationAddr;
  }
  let trustAnchorsPem: string;
  try {
    trustAnchorsPem = readFileSync(anchorsFile, 'utf8');
  } catch (err) {
    throw new UsageError(`trust anchors ${anchorsFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  return destinationStubs(addr, { trustAnchorsPem, serverIdentity: values['server-identity'] });
}

/**
 * Prints messages from `call` with `render` until the first (or, when watching, until Ctrl-C or
 * the stream fails). Resolves to the exit code.
 */
export function printStream<M>(call: grpc.ClientReadableStream<M>, stubs: DestinationStubs, watch: boolean, render: (m: M, first: boolean) => string): Promise<number> {
  return new Promise((resolve) => {
    let first = true;
    let finished = false;
    const done = (code: number) => {
      finished = true;
      process.off('SIGINT', interrupt);
      call.cancel();
      stubs.close();
      resolve(code);
    };
    const interrupt = () => done(0);
    process.on('SIGINT', interrupt);
    call.on('data', (m: M) => {
      if (finished) return; // already cancelled: a message in flight is not printed
      const text = render(m, first);
      if (text) console.log(watch && !first ? `[${new Date().toISOString().slice(11, 23)}] ${text}` : text);
      first = false;
      if (!watch) done(0);
    });
    call.on('error', (err: grpc.ServiceError) => {
      // Our own cancel, after done(); any other end (CANCELLED by a server going away included) is a failure.
      if (finished) return;
      console.error(`destination: ${err.details || err.message}`);
      done(1);
    });
    call.on('end', () => {
      if (finished) return;
      console.error('destination: the server ended the stream');
      done(1);
    });
  });
}
