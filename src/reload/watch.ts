/**
 * Watches the folders that hold the config's files, not the files: editors save by rename, `mv` swaps
 * the inode, and Kubernetes updates ConfigMap and Secret volumes by swapping a `..data` symlink in the
 * folder. A watch on a file would follow the old inode and miss all three; a folder watch sees each as
 * an event in the folder. Symlinked files add their target's folder too. Events are debounced, for
 * at most a second.
 */
import { watch, realpathSync, type FSWatcher } from 'node:fs'
import { dirname } from 'node:path'

export interface FolderWatcher {
  /** Watch the folders of this new set of files instead. */
  update(files: readonly string[]): void
  close(): void
}

export function watchFolders(files: readonly string[], onChange: () => void, debounceMs = 200, maxWaitMs = 1000): FolderWatcher {
  const watchers = new Map<string, FSWatcher>()
  let timer: NodeJS.Timeout | undefined
  // When the first event of this burst came: a folder that never goes quiet (a log file written beside
  // routes.yaml) must not hold a reload back for ever.
  let burstStart: number | undefined
  const fire = () => {
    burstStart = undefined
    onChange()
  }
  const changed = () => {
    clearTimeout(timer)
    burstStart ??= Date.now()
    timer = setTimeout(fire, Math.min(debounceMs, burstStart + maxWaitMs - Date.now()))
  }

  const update = (next: readonly string[]) => {
    const folders = new Set(next.flatMap(foldersOf))
    for (const [folder, watcher] of watchers) {
      if (folders.has(folder)) continue
      watcher.close()
      watchers.delete(folder)
    }
    for (const folder of folders) {
      if (watchers.has(folder)) continue
      try {
        const watcher = watch(folder, { persistent: false }, changed)
        // A folder that disappears ends its watch; the next successful reload watches it again.
        watcher.on('error', () => {
          watcher.close()
          watchers.delete(folder)
        })
        watchers.set(folder, watcher)
      } catch {
        // A folder that does not exist yet: the config's own folder still reports the next edit.
      }
    }
  }
  update(files)

  return {
    update,
    close() {
      clearTimeout(timer)
      for (const watcher of watchers.values()) watcher.close()
      watchers.clear()
    },
  }
}

function foldersOf(file: string): string[] {
  const folders = [dirname(file)]
  try {
    folders.push(dirname(realpathSync(file)))
  } catch {
    // Missing for now; its folder is watched above.
  }
  return folders
}
