/**
 * Reusable buffers for chunk copies. Allocating a fresh megabyte buffer per
 * chunk makes the C allocator hold on to freed memory (glibc raises its mmap
 * threshold after each free), which showed as ~90 MB of extra peak RSS on a
 * 256 MiB backup. Size classes are powers of two from 64 KiB.
 */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private kept = 0;

  /**
   * `keepBytes` bounds what the pool holds between uses, whatever the
   * classes: what was in flight once (chunks of every size waiting to be
   * written) is not kept for the rest of the backup.
   */
  constructor(
    private readonly keepPerClass = 8,
    private readonly keepBytes = Infinity,
  ) {}

  private static classOf(size: number): number {
    let cls = 64 * 1024;
    while (cls < size) cls *= 2;
    return cls;
  }

  /** A buffer of exactly `size` bytes (a view into a pooled one). */
  take(size: number): Buffer {
    const cls = BufferPool.classOf(size);
    const pooled = this.free.get(cls)?.pop();
    if (pooled) this.kept -= cls;
    return (pooled ?? Buffer.allocUnsafeSlow(cls)).subarray(0, size);
  }

  /** Hand back a buffer from `take` once nothing refers to it any more: kept for reuse, or freed now when enough are. */
  give(buf: Buffer): void {
    const cls = buf.buffer.byteLength;
    if (buf.byteOffset !== 0 || cls !== BufferPool.classOf(buf.length)) return; // not one of ours
    const list = this.free.get(cls) ?? [];
    if (list.length < this.keepPerClass && this.kept + cls <= this.keepBytes) {
      list.push(Buffer.from(buf.buffer));
      this.kept += cls;
    } else {
      discardBuffer(Buffer.from(buf.buffer));
    }
    this.free.set(cls, list);
  }
}

/**
 * Frees a buffer's memory now instead of at V8's next full collection, when
 * it is the sole view of an ArrayBuffer of its own (a cipher's or zstd's
 * output), or all of it but `slack` bytes (a blob's payload after its mode
 * byte); a slice of a shared one is left alone. A freed buffer reads as
 * empty. Why: V8 collects dead ArrayBuffers only when its old generation is
 * collected, and the engine's JS heap grows so little that ~60–90 MB of dead
 * chunk-sized buffers piled up between collections of a large backup or restore.
 * Only for a buffer nothing else refers to.
 */
export function discardBuffer(buf: Buffer, slack = 0): void {
  const backing = buf.buffer as ArrayBuffer & { transfer?(length: number): ArrayBuffer };
  if (backing.byteLength > buf.length + slack || buf.length === 0 || !backing.transfer) return;
  backing.transfer(0); // detaches it: the memory is released with it
}
