// gRPC's message framing: messages framed one behind the other, and read back whole however the
// bytes are cut into chunks; oversized and compressed messages refused.
import { describe, expect, it } from 'vitest';
import { FramingError, frameMessages, MessageReader } from '../../../proxy/grpc/wire.ts';
import { thrown } from '../../helpers/thrown.ts';

describe('frameMessages', () => {
  it('puts each message behind an uncompressed flag and its big-endian length, in order', () => {
    const framed = frameMessages([Buffer.from('ab'), Buffer.alloc(0), Buffer.from('xyz')]);
    expect([...framed]).toEqual([0, 0, 0, 0, 2, 97, 98, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 120, 121, 122]);
  });
});

describe('MessageReader', () => {
  const messages = [Buffer.from('first'), Buffer.alloc(0), Buffer.from('x'.repeat(300))];
  const framed = frameMessages(messages);

  it('reads the same messages whatever the chunk size, each as soon as it is whole', () => {
    for (const size of [1, 2, 5, 6, 7, 64, framed.length]) {
      const reader = new MessageReader(1024);
      const out: string[] = [];
      for (let at = 0; at < framed.length; at += size) out.push(...reader.push(framed.subarray(at, at + size)).map(String));
      expect(out, `chunks of ${size}`).toEqual(messages.map(String));
      expect(reader.partial).toBe(false);
    }
  });

  it('says when the bytes stop inside a message', () => {
    const reader = new MessageReader(1024);
    expect(reader.push(framed.subarray(0, 8))).toEqual([]);
    expect(reader.partial).toBe(true);
  });

  it('refuses a message over its limit from the prefix alone, and a compressed one', () => {
    const tooBig = thrown(() => new MessageReader(100).push(framed.subarray(framed.length - 305, framed.length - 300)));
    expect(tooBig).toBeInstanceOf(FramingError);
    expect((tooBig as FramingError).message).toMatch(/300 bytes, over this client's limit of 100/);
    const compressed = Buffer.from([1, 0, 0, 0, 1, 7]);
    expect(thrown(() => new MessageReader(100).push(compressed))).toMatchObject({ code: 'GRPC_FRAMING', message: expect.stringMatching(/compressed/) });
  });
});
