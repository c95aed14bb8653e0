/**
 * Admin work (a scrape, a reload) runs on the event loop that serves traffic, and whoever can reach
 * the admin listener can ask for it as often as they like. coalesce() bounds its cost whatever the
 * rate of asking: callers share runs, runs never overlap, and a run starts at least `minIntervalMs`
 * after the one before it started. A caller never shares a run that had started before it asked, so
 * it sees the state of things as they were at its request or later (metrics counted before the scrape,
 * files as they were edited before the reload).
 */

export interface CoalesceOptions<R> {
  /** The least time between the starts of two runs; the first after a quiet period starts at once. */
  readonly minIntervalMs: number
  /** Folds the request of a caller that joins a queued run into that run's request. Default: keeps the first. */
  readonly merge?: (queued: R, joining: R) => R
}

/** A run that has not started yet, and the request of every caller waiting for it. */
interface QueuedRun<R, T> {
  request: R
  readonly result: Promise<T>
}

/** Wraps `job`: each call joins the run queued behind the one in progress, or queues one. */
export function coalesce<T, R = void>(job: (request: R) => Promise<T>, options: CoalesceOptions<R>): (request: R) => Promise<T> {
  const { minIntervalMs, merge = (queued: R) => queued } = options
  let previous: Promise<unknown> = Promise.resolve()
  let lastStart = -Infinity
  let queued: QueuedRun<R, T> | undefined

  return (request) => {
    if (queued) {
      queued.request = merge(queued.request, request)
      return queued.result
    }
    const run: QueuedRun<R, T> = {
      request,
      result: previous.then(async () => {
        // Clamped: a wall clock set back must not hold the next run for longer than the interval.
        const wait = Math.min(minIntervalMs, lastStart + minIntervalMs - Date.now())
        // Unref'd: a run waiting its turn does not keep a stopped gateway's process alive.
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait).unref())
        queued = undefined
        lastStart = Date.now()
        return job(run.request)
      }),
    }
    queued = run
    previous = run.result.catch(() => undefined)
    return run.result
  }
}
