import { describe, expect, it } from 'vitest';
import { startTool } from '../../../engine/targets/childProcess';

describe('a tool started by a target', () => {
  it('is seen to end when stopped with its output unread (no pipe, no child record kept)', async () => {
    // more output than a pipe and a stream buffer hold, none of it read: the tool is blocked writing when stopped
    const tool = startTool('head', ['-c', String(64 * 1024 * 1024), '/dev/zero'], process.env, 'head');
    tool.child.stdout!.on('readable', () => undefined); // held, as a dump started before the repository is
    await new Promise((r) => setTimeout(r, 300));
    tool.stop();
    // a liveness bound, not a timing: left with its unread output, the tool's end never came
    const ended = await Promise.race([tool.done.then(() => 'exited 0', (err: Error) => err.message), new Promise((r) => setTimeout(() => r('never ended'), 10_000))]);
    expect(ended).toMatch(/head failed: killed by SIGTERM/);
    expect(tool.child.stdout!.destroyed).toBe(true);
  });
});
