/**
 * The primary's questions to its workers (reload, metrics, ping), one answer from each. A worker that exits,
 * or is still silent when the deadline passes (stopped, or its event loop stuck), counts as having
 * answered `missing(worker)`, so an admin request never waits on one worker for ever.
 */
import type { Worker } from 'node:cluster'
import type { WorkerQuestion } from './messages.js'

interface Pending {
  readonly workers: readonly Worker[]
  readonly waiting: Set<Worker>
  readonly answers: unknown[]
  readonly missing: (worker: Worker) => unknown
  readonly done: (answers: unknown[]) => void
  readonly deadline: NodeJS.Timeout
}

export class WorkerQuestions {
  private nextId = 0
  private readonly pending = new Map<number, Pending>()

  /** Sends `question` to each worker; resolves with one answer per worker, in the order of `workers`. */
  ask<T>(workers: readonly Worker[], question: Omit<WorkerQuestion, 'id'>, timeoutMs: number, missing: (worker: Worker) => T): Promise<T[]> {
    return new Promise((resolve) => {
      if (workers.length === 0) return resolve([])
      const id = this.nextId++
      const deadline = setTimeout(() => {
        for (const worker of this.pending.get(id)?.waiting ?? []) this.answer(id, worker, missing(worker))
      }, timeoutMs)
      this.pending.set(id, { workers, waiting: new Set(workers), answers: new Array(workers.length), missing, done: resolve as (answers: unknown[]) => void, deadline })
      for (const worker of workers) worker.send({ ...question, id } satisfies WorkerQuestion)
    })
  }

  /** A worker's answer; one that comes after its deadline, or twice, is ignored. */
  answer(id: number, worker: Worker, value: unknown): void {
    const pending = this.pending.get(id)
    if (!pending?.waiting.delete(worker)) return
    pending.answers[pending.workers.indexOf(worker)] = value
    if (pending.waiting.size > 0) return
    clearTimeout(pending.deadline)
    this.pending.delete(id)
    pending.done(pending.answers)
  }

  /** A worker that exited answers nothing more. */
  exited(worker: Worker): void {
    for (const [id, pending] of this.pending) {
      if (pending.waiting.has(worker)) this.answer(id, worker, pending.missing(worker))
    }
  }
}
