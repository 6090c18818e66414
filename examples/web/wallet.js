// Wallet file: decompresses the zstd download (fzstd) and opens the minotari-cli SQLite database in the
// page (sql.js, its wasm), reading the balance as examples/wallet_client.rs does: unspent, not burnt,
// not deleted outputs.

import { decompress } from 'fzstd';

const SQLITE_MAGIC = 'SQLite format 3\0';

export async function openWallet(compressed, initSqlJs, wasmDir) {
  const raw = decompress(compressed);
  const magic = new TextDecoder().decode(raw.subarray(0, 16));
  if (magic !== SQLITE_MAGIC) throw new Error('the download is not a SQLite wallet database');
  const SQL = await initSqlJs({ locateFile: (file) => wasmDir + file });
  const db = new SQL.Database(raw);
  try {
    const [[balance, count]] = db.exec(
      `SELECT COALESCE(SUM(value), 0), COUNT(*) FROM outputs
       WHERE status = 'UNSPENT' AND is_burn = 0 AND deleted_at IS NULL`,
    )[0].values;
    const tip = db.exec('SELECT COALESCE(MAX(height), 0) FROM scanned_tip_blocks')[0].values[0][0];
    const rows = db.exec(
      `SELECT mined_in_block_height, value, status, hex(output_hash) FROM outputs
       WHERE deleted_at IS NULL ORDER BY mined_in_block_height, id`,
    );
    const outputs = (rows[0]?.values ?? []).map(([height, value, status, hash]) => ({
      height,
      value,
      status,
      hash: hash.toLowerCase(),
    }));
    return { balance, unspent: count, tip, outputs, rawSize: raw.length };
  } finally {
    db.close();
  }
}
