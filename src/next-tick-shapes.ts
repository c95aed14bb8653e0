/**
 * Works around a slow path of `process.nextTick` on Node 20, which a proxied request calls about 11
 * times (streams, `node:http`).
 *
 * Each call builds its task as an object literal with two computed keys, and V8 holds the hidden
 * classes those keys lead to only weakly. A task lives for one turn of the event loop, so a full
 * garbage collection can find none alive and free them; the next tasks get new classes, and after a
 * few such collections nextTick's inline caches are megamorphic and every task defines its keys
 * through V8's runtime. In benchmark scenario a, every gateway process watched on Node 20 got there
 * within half a minute of load, at about 5 µs a request (6 % of its CPU). Node 24 keeps the classes.
 *
 * Holding one task for the life of the process keeps its classes, and the caches with them. The
 * heap is the process's, so the reference is module state.
 */
import { executionAsyncResource } from 'node:async_hooks'

let heldTask: object | undefined

export function holdNextTickShapes(): Promise<void> {
  if (heldTask) return Promise.resolve()
  return new Promise((resolve) => {
    process.nextTick(() => {
      // Inside a nextTick callback, the current async resource is that callback's task.
      heldTask = executionAsyncResource()
      resolve()
    })
  })
}
