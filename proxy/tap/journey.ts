// The journey of one tapped request: each layer's decision, in order, with its time. Bounded,
// and made only for requests a tap reports, so layers record with `req.ctx.journey?.add(...)`
// and build nothing (not even the note's string) for every other request.
import type { JourneyEntry } from '../../api/tap-proto.ts';

/** Most entries kept per request; later ones are counted, not kept (a retry storm stays bounded). */
export const MAX_JOURNEY_ENTRIES = 32;
/** Longest note kept; a note comes from config and traffic (route names, identities). */
const MAX_NOTE = 200;

export class Journey {
  readonly entries: JourneyEntry[] = [];
  dropped = 0;

  constructor(private readonly startedAt: number) {}

  add(layer: string, note: string): void {
    if (this.entries.length >= MAX_JOURNEY_ENTRIES) {
      this.dropped++;
      return;
    }
    const atUs = Math.max(0, Math.round((performance.now() - this.startedAt) * 1000));
    this.entries.push({ layer, note: note.length > MAX_NOTE ? `${note.slice(0, MAX_NOTE)}…` : note, atUs });
  }
}
