/**
 * The gateway's signals, listened for before its modules load (undici, express, prom-client and the
 * rest take a few hundred milliseconds), so that none falls to its default action, which ends the
 * process: SIGHUP can come while the gateway starts (`systemctl reload` just after a restart, a reload
 * sidecar), as can SIGTERM (a rollout that replaces a pod just started). This module loads nothing.
 */
export interface GatewaySignals {
  /** The first SIGTERM or SIGINT. */
  readonly stop: Promise<NodeJS.Signals>
  /** What SIGHUP does: nothing until a gateway serves, then its reload (a cluster primary has its own). */
  readonly hangup: { reload: () => void }
}

export function listenForSignals(): GatewaySignals {
  // Listening for good: a later signal must not fall to the default action either. A worker gets its
  // stop signal twice when it reaches the whole process group (Ctrl-C, systemd, dumb-init): its own,
  // then the primary's.
  const stop = new Promise<NodeJS.Signals>((resolve) => {
    process.on('SIGTERM', () => resolve('SIGTERM'))
    process.on('SIGINT', () => resolve('SIGINT'))
  })
  // As nginx does. A worker's, come from the process group, does nothing: its primary reloads it.
  const hangup = { reload: () => {} }
  process.on('SIGHUP', () => hangup.reload())
  return { stop, hangup }
}
