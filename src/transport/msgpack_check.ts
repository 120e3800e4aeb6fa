// A check that bytes hold exactly one msgpack value that the log's decoder
// (@msgpack/msgpack with default options) will decode into plain data: the
// leader checks a command this way before it enters the log, without
// building the objects (only the machine's apply needs them).

/** Why bytes are not an acceptable value; thrown inside the scan only. */
class Problem {
  constructor(readonly detail: string) {}
}

const proto = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f]; // "__proto__"

/** The msgpack timestamp extension: the one extension the decoder turns into plain data (a Date). */
const extTimestamp = 0xff;

class Scan {
  pos = 0;
  private readonly view: DataView;

  constructor(
    private readonly b: Uint8Array,
    private readonly depthMax: number,
  ) {
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  done(): void {
    if (this.pos !== this.b.length) throw new Problem(`${this.b.length - this.pos} bytes after the value`);
  }

  /** One value at `depth`; as a map key only strings and numbers are allowed (as the decoder requires). */
  value(depth: number, key: boolean): void {
    const h = this.u8();
    if (h <= 0x7f || h >= 0xe0) return; // fixint
    if (h >= 0xa0 && h <= 0xbf) return this.str(h & 0x1f, key);
    switch (h) {
      case 0xca:
        return this.skip(4);
      case 0xcb:
      case 0xcf:
      case 0xd3:
        return this.skip(8);
      case 0xcc:
      case 0xd0:
        return this.skip(1);
      case 0xcd:
      case 0xd1:
        return this.skip(2);
      case 0xce:
      case 0xd2:
        return this.skip(4);
      case 0xd9:
        return this.str(this.u8(), key);
      case 0xda:
        return this.str(this.u16(), key);
      case 0xdb:
        return this.str(this.u32(), key);
    }
    if (key) throw new Problem('a map key that is not a string or a number');
    if (h === 0xc0 || h === 0xc2 || h === 0xc3) return; // nil, false, true
    if (depth >= this.depthMax) throw new Problem(`nested deeper than ${this.depthMax}`);
    if (h >= 0x80 && h <= 0x8f) return this.map(h & 0x0f, depth);
    if (h >= 0x90 && h <= 0x9f) return this.array(h & 0x0f, depth);
    switch (h) {
      case 0xc4:
        return this.skip(this.u8());
      case 0xc5:
        return this.skip(this.u16());
      case 0xc6:
        return this.skip(this.u32());
      case 0xd4:
        return this.ext(1);
      case 0xd5:
        return this.ext(2);
      case 0xd6:
        return this.ext(4);
      case 0xd7:
        return this.ext(8);
      case 0xd8:
        return this.ext(16);
      case 0xc7:
        return this.ext(this.u8());
      case 0xc8:
        return this.ext(this.u16());
      case 0xc9:
        return this.ext(this.u32());
      case 0xdc:
        return this.array(this.u16(), depth);
      case 0xdd:
        return this.array(this.u32(), depth);
      case 0xde:
        return this.map(this.u16(), depth);
      case 0xdf:
        return this.map(this.u32(), depth);
      default:
        throw new Problem(`unsupported msgpack type byte 0x${h.toString(16)}`);
    }
  }

  private array(n: number, depth: number): void {
    for (let i = 0; i < n; i++) this.value(depth + 1, false);
  }

  private map(n: number, depth: number): void {
    for (let i = 0; i < n; i++) {
      this.value(depth + 1, true);
      this.value(depth + 1, false);
    }
  }

  private str(length: number, key: boolean): void {
    const at = this.pos;
    this.skip(length);
    if (key && length === proto.length && proto.every((c, i) => this.b[at + i] === c)) throw new Problem('the map key __proto__');
  }

  /** An extension of `length` bytes: only a timestamp of 4, 8 or 12 bytes decodes to plain data. */
  private ext(length: number): void {
    const type = this.u8();
    if (type !== extTimestamp || (length !== 4 && length !== 8 && length !== 12)) throw new Problem(`unsupported extension type ${type} of ${length} bytes`);
    this.skip(length);
  }

  private skip(n: number): void {
    if (this.pos + n > this.b.length) throw new Problem('truncated');
    this.pos += n;
  }

  private u8(): number {
    this.skip(1);
    return this.b[this.pos - 1] as number;
  }

  private u16(): number {
    this.skip(2);
    return this.view.getUint16(this.pos - 2);
  }

  private u32(): number {
    this.skip(4);
    return this.view.getUint32(this.pos - 4);
  }
}

/**
 * Why `bytes` are not exactly one msgpack value of plain data (nil, booleans,
 * numbers, strings, binaries, timestamps, arrays, maps with string or number
 * keys) nested at most `depthMax` deep; undefined when they are.
 */
export function msgpackProblem(bytes: Uint8Array, depthMax: number): string | undefined {
  const scan = new Scan(bytes, depthMax);
  try {
    scan.value(0, false);
    scan.done();
    return undefined;
  } catch (e) {
    if (e instanceof Problem) return e.detail;
    throw e;
  }
}
