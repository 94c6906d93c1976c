// A profile's circuit breaker on the wire, encoded and decoded by the proxy's own codec: it arrives
// as sent, and a message no destination of ours would send (no failure count, no backoff, a
// jitter out of range, a max backoff under the min) cannot give a proxy a breaker that misbehaves.
import { describe, expect, it } from 'vitest';
import type { Profile } from '../../api/destination-types.ts';
import type { ProfileUpdateMessage } from '../../api/destination-messages.ts';
import { profileFromWire, profileToWire } from '../../api/destination-wire.ts';
import { messageCodec } from '../../api/proto-codec.ts';

const codec = messageCodec<ProfileUpdateMessage>('destination', 'mesh.destination.v1.ProfileUpdate');
const overTheWire = (m: ProfileUpdateMessage) => profileFromWire(codec.decode(codec.encode(m)));
const base: Profile = { fqdn: 'payments.production.svc.cluster.local', routes: [], httpRoutes: [] };

describe('a profile\'s failure accrual on the wire', () => {
  it('arrives as the destination sent it, and is absent when it sent none', () => {
    const failureAccrual = { consecutiveFailures: 3, minBackoffMs: 250, maxBackoffMs: 10_000, jitter: 0.1 };
    expect(overTheWire(profileToWire({ ...base, failureAccrual })).failureAccrual).toEqual(failureAccrual);
    expect(overTheWire(profileToWire(base)).failureAccrual).toBeUndefined();
  });

  it('is dropped when it could not work, and held to its bounds otherwise', () => {
    const sent = (failureAccrual: ProfileUpdateMessage['failureAccrual']) => overTheWire({ fullyQualifiedName: base.fqdn, failureAccrual }).failureAccrual;
    expect(sent({ consecutiveFailures: 0, minBackoffMs: 1_000, maxBackoffMs: 60_000, jitter: 0.5 })).toBeUndefined();
    expect(sent({ consecutiveFailures: 7, minBackoffMs: 0, maxBackoffMs: 60_000, jitter: 0.5 })).toBeUndefined();
    expect(sent({ consecutiveFailures: 7, minBackoffMs: 5_000, maxBackoffMs: 1_000, jitter: 7 })).toEqual({ consecutiveFailures: 7, minBackoffMs: 5_000, maxBackoffMs: 5_000, jitter: 1 });
    expect(sent({ consecutiveFailures: 7, minBackoffMs: 1_000, maxBackoffMs: 60_000, jitter: -1 })?.jitter).toBe(0);
  });
});
