// parquet_read.mjs - an independent reader for the Parquet writer's tests:
// reads FILE with hyparquet (pure JavaScript, installed by the test into a
// temporary or build folder) and prints one JSON object: num_rows,
// created_by, row_groups, pages (data pages per column chunk, from the
// metadata), schema (name, type, repetition_type, converted_type,
// logical_type of each column) and rows (arrays in schema order). JSON has no
// BigInt, NaN, Infinity or -0: INT64 values print as decimal strings and
// those doubles as the strings "NaN", "Infinity", "-Infinity", "-0".
// usage: node parquet_read.mjs FILE HYPARQUET_PREFIX
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'

const [file, prefix] = process.argv.slice(2)
const hp = await import(pathToFileURL(`${prefix}/node_modules/hyparquet/src/index.js`).href)
const b = readFileSync(file)
const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)
const md = hp.parquetMetadata(ab)
const cols = md.schema.slice(1)
const rows = md.num_rows > 0n || md.num_rows > 0
  ? await hp.parquetReadObjects({ file: ab, utf8: true })
  : []
const conv = (v) => {
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v)
  if (typeof v === 'number' && Object.is(v, -0)) return '-0'
  return v
}
const out = {
  num_rows: Number(md.num_rows),
  created_by: md.created_by ?? null,
  row_groups: md.row_groups.length,
  schema: cols.map((c) => ({
    name: c.name,
    type: c.type,
    repetition_type: c.repetition_type,
    converted_type: c.converted_type ?? null,
    logical_type: c.logical_type ? c.logical_type.type : null,
  })),
  rows: rows.map((r) => cols.map((c) => conv(r[c.name] === undefined ? null : r[c.name]))),
}
process.stdout.write(JSON.stringify(out))
