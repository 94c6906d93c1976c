// A Watched cell that knows whether anyone subscribes, so idle discovery watches can be stopped.
import { Watched, type Unsubscribe } from './watched.ts';

export class CountedWatched<T> extends Watched<T> {
  private subscribers = 0;

  override subscribe(listener: (value: T) => void): Unsubscribe {
    const unsubscribe = super.subscribe(listener);
    this.subscribers++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.subscribers--;
      unsubscribe();
    };
  }

  get subscriberCount(): number {
    return this.subscribers;
  }
}
