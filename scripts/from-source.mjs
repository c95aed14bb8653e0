// `npm run portcullis`: the portcullis command from its TypeScript source, in this one process, through
// tsx's loader. Not through tsx's command, which runs the program in a child process and SIGKILLs it when
// it has not acknowledged a relayed SIGTERM within 30 ms: a gateway whose event loop was busy (traffic,
// a reload) was killed without its drain.
import 'tsx'

await import('../src/cli.ts')
