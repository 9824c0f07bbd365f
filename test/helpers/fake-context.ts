/** A command context for unit tests: a fake runner (nothing runs), local libvirt, epoch clock, memory log, `env` as given. */
import { createContext, type AppContext } from '../../src/app/context.js';
import { createMemoryLogger } from '../../src/util/log.js';
import { FakeRunner } from './fake-runner.js';

export function fakeContext(env: Record<string, string>): AppContext {
  return createContext({
    runner: new FakeRunner(),
    uri: 'qemu:///system',
    now: () => new Date(0),
    log: createMemoryLogger(),
    interactive: false,
    signal: new AbortController().signal,
    env,
  });
}
