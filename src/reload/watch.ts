/**
 * Watches the folders that hold the config's files, not the files: editors save by rename, `mv` swaps
 * the inode, and Kubernetes updates ConfigMap and Secret volumes by swapping a `..data` symlink in the
 * folder. A watch on a file would follow the old inode and miss all three; a folder watch sees each as
 * an event in the folder. The folder itself can be replaced too (`mv secrets.new secrets`, a release
 * symlink swapped, `rm -rf` and recreated) or not exist yet, so each folder's parent is watched as
 * well, a missing folder by its nearest existing ancestor, and after every burst of events the watches
 * are laid again on whatever the paths now name. Symlinked files add their target's folder too.
 * Events are debounced, for at most a second.
 */
import { watch, realpathSync, statSync, type FSWatcher } from 'node:fs'
import { dirname } from 'node:path'

export interface FolderWatcher {
  /** Watch the folders of this new set of files instead. */
  update(files: readonly string[]): void
  close(): void
}

interface FolderWatch {
  readonly watcher: FSWatcher
  /** Device and inode of the folder when the watch was laid: a watch follows its inode, not its path. */
  readonly identity: string | undefined
}

export function watchFolders(files: readonly string[], onChange: () => void, debounceMs = 200, maxWaitMs = 1000): FolderWatcher {
  const watches = new Map<string, FolderWatch>()
  let current = files
  let timer: NodeJS.Timeout | undefined
  // When the first event of this burst came: a folder that never goes quiet (a log file written beside
  // routes.yaml) must not hold a reload back for ever.
  let burstStart: number | undefined
  const fire = () => {
    burstStart = undefined
    update(current)
    onChange()
  }
  const changed = () => {
    clearTimeout(timer)
    burstStart ??= Date.now()
    timer = setTimeout(fire, Math.min(debounceMs, burstStart + maxWaitMs - Date.now()))
  }
  const unwatch = (folder: string) => {
    watches.get(folder)?.watcher.close()
    watches.delete(folder)
  }

  const update = (next: readonly string[]) => {
    current = next
    const folders = new Set(next.flatMap(foldersOf))
    for (const [folder, { identity }] of watches) {
      if (!folders.has(folder) || identityOf(folder) !== identity) unwatch(folder)
    }
    for (const folder of folders) {
      if (watches.has(folder)) continue
      try {
        const watcher = watch(folder, { persistent: false }, changed)
        // A folder that disappears ends its watch; its parent's watch reports that, and lays it again.
        watcher.on('error', () => unwatch(folder))
        watches.set(folder, { watcher, identity: identityOf(folder) })
      } catch {
        // Gone between the lookup and the watch: its parent's watch reports it.
      }
    }
  }
  update(files)

  return {
    update,
    close() {
      clearTimeout(timer)
      for (const folder of [...watches.keys()]) unwatch(folder)
    },
  }
}

/** The file's folder and its parent, and the same for the folder of its symlink target. */
function foldersOf(file: string): string[] {
  const folders = [dirname(file)]
  try {
    folders.push(dirname(realpathSync(file)))
  } catch {
    // Missing for now: the watches below see it arrive.
  }
  return folders.flatMap((folder) => [existingAncestor(folder), existingAncestor(dirname(folder))])
}

function existingAncestor(folder: string): string {
  while (identityOf(folder) === undefined && dirname(folder) !== folder) folder = dirname(folder)
  return folder
}

function identityOf(folder: string): string | undefined {
  try {
    const stats = statSync(folder)
    return stats.isDirectory() ? `${stats.dev}:${stats.ino}` : undefined
  } catch {
    return undefined
  }
}
