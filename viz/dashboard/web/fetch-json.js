// One JSON endpoint of the viz API, read again whenever the live feed moves on.
import { useEffect, useState } from 'preact/hooks';

/** `{data, error}` for `path`, refreshed each time `tick` changes. */
export function useJson(path, tick) {
  const [state, setState] = useState({});
  useEffect(() => {
    let gone = false;
    fetch(path).then(async (res) => {
      const body = await res.json();
      if (!gone) setState(res.ok ? { data: body } : { error: body.error?.message ?? `the viz answered ${res.status}` });
    }).catch((err) => { if (!gone) setState({ error: err.message }); });
    return () => { gone = true; };
  }, [path, tick]);
  return state;
}
