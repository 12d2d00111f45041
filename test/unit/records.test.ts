// The record codec (assembly/lib/record.ts) lays each shared-data record out from one list of
// fields. Records outlive a module upgrade in Envoy's shared data (a new VM reads what the old one
// wrote), so the bytes must be exactly the layouts the hand-written encoders had: each table below
// is such a layout (offset, width, the field's number n; its bytes are n repeated), and the test
// holds the codec's bytes against it.
import { describe, expect, it } from "vitest";
import { coreRecordBytes } from "../.build/unit/unit.js";

type Field = [offset: number, width: number, n: number];

function layout(size: number, tag: number, fields: Field[]): string {
  const b = Buffer.alloc(size);
  b.writeUInt32LE(tag, 0);
  for (const [offset, width, n] of fields) b.fill(n, offset, offset + width);
  return b.toString("hex");
}

describe("shared-data records: the codec keeps the byte layouts", () => {
  it("provider state (health/state.ts, layout 3, 144 bytes)", () => {
    const expected = layout(144, 3, [
      [4, 4, 1], [8, 1, 1], [9, 1, 1], [10, 1, 3], [11, 1, 4], [12, 4, 5], [16, 4, 6], [20, 4, 7], [24, 4, 8], [28, 4, 9],
      [32, 8, 10], [40, 8, 11], [48, 8, 12], [56, 8, 13], [64, 8, 14], [72, 4, 15], [80, 8, 16], [88, 8, 17], [96, 8, 18],
      [104, 8, 19], [112, 8, 20], [120, 8, 21], [128, 8, 22], [136, 8, 23],
    ]);
    expect(coreRecordBytes(0)).toBe(expected);
  });

  it("consumer budget (admission/budget.ts, \"BUD\" 1, 32 bytes)", () => {
    expect(coreRecordBytes(1)).toBe(layout(32, 0x42554401, [[4, 4, 1], [8, 8, 2], [16, 8, 3], [24, 8, 4]]));
  });

  it("cluster pool (cluster/pool.ts, \"CLP\" 2, 80 bytes; mode as an i64)", () => {
    const expected = layout(80, 0x434c5002, [
      [4, 4, 1], [8, 8, 2], [16, 4, 3], [24, 8, 4], [32, 8, 5], [40, 8, 6], [48, 8, 7], [56, 8, 8], [64, 8, 9], [72, 8, 10],
    ]);
    expect(coreRecordBytes(2)).toBe(expected);
  });
});
