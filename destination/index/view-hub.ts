// Computed views shared by key: every watcher of the same key gets one computation per change,
// and nothing is sent when a recomputation comes out the same.
export interface ViewWatch<T> {
  current: T;
  stop(): void;
}

interface Topic<T> {
  compute: () => T;
  value: T;
  fingerprint: string;
  listeners: Set<(value: T) => void>;
}

export class ViewHub<T> {
  private readonly topics = new Map<string, Topic<T>>();

  watch(key: string, compute: () => T, listener: (value: T) => void): ViewWatch<T> {
    let topic = this.topics.get(key);
    if (!topic) {
      const value = compute();
      topic = { compute, value, fingerprint: JSON.stringify(value), listeners: new Set() };
      this.topics.set(key, topic);
    }
    const t = topic;
    t.listeners.add(listener);
    return {
      current: t.value,
      stop: () => {
        t.listeners.delete(listener);
        if (t.listeners.size === 0 && this.topics.get(key) === t) this.topics.delete(key);
      },
    };
  }

  /** Recomputes every watched key; listeners hear only about values that changed. */
  refresh(): void {
    for (const topic of this.topics.values()) {
      const value = topic.compute();
      const fingerprint = JSON.stringify(value);
      if (fingerprint === topic.fingerprint) continue;
      topic.value = value;
      topic.fingerprint = fingerprint;
      for (const listener of [...topic.listeners]) listener(value);
    }
  }

  get size(): number {
    return this.topics.size;
  }
}
