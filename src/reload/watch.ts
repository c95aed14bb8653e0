/**
 * Watches the folders that hold the config's files, not the files: editors save by rename, `mv` swaps
 * the inode, and Kubernetes updates ConfigMap and Secret volumes by swapping a `..data` symlink in the
 * folder. A watch on a file would follow the old inode and miss all three; a folder watch sees each as
 * an event in the folder. The folder itself can be replaced too (`mv secrets.new secrets`, a release
 * symlink swapped, `rm -rf` and recreated, often with the same inode) or not exist yet, so each
 * folder's parent is watched as well, and the folder of a symlink higher up, a missing folder by its
 * nearest existing ancestor, and after every burst of events every watch is laid again on whatever
 * the paths name now (a few inotify calls). Symlinked files add their target's folder too, or where
 * it is gone, its nearest existing ancestor. Events are debounced, for at most a second. A folder that
 * exists but cannot be watched (the host's inotify watch limit reached, above all) is reported, once
 * until it can be watched again.
 */
import { watch, lstatSync, readlinkSync, realpathSync, statSync, type FSWatcher, type Stats } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'

export interface FolderWatcher {
  /** Watch the folders of this new set of files instead. */
  update(files: readonly string[]): void
  close(): void
}

/** A burst of events (an editor's save, a Secret's symlink swap) reloads once, this long after its last event. */
const DEBOUNCE_MS = 200
/**
 * The longest a burst holds its reload back: a folder that never goes quiet (a log file written beside
 * routes.yaml) must not hold it for ever.
 */
const MAX_WAIT_MS = 1000

/** Watch errors that mean the folder went: its parent's watch reports that. */
const GONE = new Set(['ENOENT', 'ENOTDIR'])

export function watchFolders(files: readonly string[], onChange: () => void, onUnwatchable: (folder: string, error: Error) => void): FolderWatcher {
  let watchers: FSWatcher[] = []
  // The folders the last update could not watch, each reported when it first could not.
  let unwatchable = new Set<string>()
  let current = files
  let closed = false
  let timer: NodeJS.Timeout | undefined
  // When the first event of this burst came (see MAX_WAIT_MS).
  let burstStart: number | undefined
  const fire = () => {
    burstStart = undefined
    // Laid again before the files are read: a change after this point is an event of the new watches.
    update(current)
    onChange()
  }
  const changed = () => {
    clearTimeout(timer)
    burstStart ??= Date.now()
    // Unref'd, as the watches are not persistent: a reload to come keeps no process alive.
    timer = setTimeout(fire, Math.min(DEBOUNCE_MS, burstStart + MAX_WAIT_MS - Date.now())).unref()
  }
  const unwatchAll = () => {
    for (const watcher of watchers) watcher.close()
    watchers = []
  }

  const update = (next: readonly string[]) => {
    if (closed) return
    current = next
    // The old watches close only once the new ones are laid. A folder watched before and after keeps
    // its inotify watch, which libuv shares between the two, and with it the events not read yet: a file
    // written while a reload ran (its digests read, its files loaded, all in one turn of the event loop)
    // has its event waiting there, and a watch closed first would drop it, the edit unseen for good.
    const previous = watchers
    watchers = []
    const failed = new Set<string>()
    for (const folder of new Set(next.flatMap(foldersOf))) {
      try {
        // A folder that disappears ends its watch; its parent's watch reports that.
        watchers.push(watch(folder, { persistent: false }, changed).on('error', () => undefined))
      } catch (error) {
        // Gone between the lookup and the watch: its parent's watch reports it.
        if (GONE.has((error as NodeJS.ErrnoException).code ?? '')) continue
        failed.add(folder)
        if (!unwatchable.has(folder)) onUnwatchable(folder, error as Error)
      }
    }
    for (const watcher of previous) watcher.close()
    unwatchable = failed
  }
  update(files)

  return {
    update,
    close() {
      closed = true
      clearTimeout(timer)
      unwatchAll()
    },
  }
}

/**
 * The file's folder and its parent, the same for the folder of its symlink target, and the folder of
 * each symlink further up its path: a release symlink swapped above it (`current/config/routes.yaml`
 * with `current -> releases/2`), which changes nothing in the folders below.
 */
function foldersOf(file: string): string[] {
  const folders = [dirname(file), dirname(linkTarget(file))]
  return [...folders.flatMap((folder) => [existingAncestor(folder), existingAncestor(dirname(folder))]), ...foldersOfSymlinksAbove(file)]
}

/** Symlinks followed at most on the way to a file, as Linux follows 40: a loop of them ends. */
const MAX_SYMLINKS = 40

/**
 * The real path of `path`; where it does not exist, the path its symlinks lead to as far as they can be
 * followed, the rest as written. A symlink whose target's folder is gone (removed, to be created again;
 * a volume not mounted yet) leads there, and the nearest existing ancestor of that folder, watched,
 * sees it come back: the symlink's own folder never does.
 */
function linkTarget(path: string, hops = { left: MAX_SYMLINKS }): string {
  try {
    return realpathSync(path)
  } catch {
    // Missing, or out of reach: followed a part at a time.
  }
  const parent = dirname(path)
  if (parent === path) return path
  const followed = join(linkTarget(parent, hops), basename(path))
  const link = statOf(followed, lstatSync)?.isSymbolicLink() && hops.left-- > 0 ? readLink(followed) : undefined
  return link === undefined ? followed : linkTarget(resolve(dirname(followed), link), hops)
}

/** What the symlink `path` names, or undefined if it went meanwhile. */
function readLink(path: string): string | undefined {
  try {
    return readlinkSync(path)
  } catch {
    return undefined
  }
}

function foldersOfSymlinksAbove(file: string): string[] {
  const folders: string[] = []
  for (let path = dirname(file); dirname(path) !== path; path = dirname(path)) {
    if (statOf(path, lstatSync)?.isSymbolicLink()) folders.push(dirname(path))
  }
  return folders
}

function existingAncestor(folder: string): string {
  while (!statOf(folder, statSync)?.isDirectory() && dirname(folder) !== folder) folder = dirname(folder)
  return folder
}

/** What `path` is now (`lstat`: the symlink itself), or undefined where it cannot be looked at: gone, or out of reach. */
function statOf(path: string, stat: (path: string) => Stats): Stats | undefined {
  try {
    return stat(path)
  } catch {
    return undefined
  }
}
