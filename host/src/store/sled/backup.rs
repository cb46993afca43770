//! Backups of the embedded store: every tree but the compiled-code cache, written while
//! the store's writes wait, so the file is one moment of the store even while the gateway
//! runs; and a new store made from such a file.
//!
//! The file: [`MAGIC`], then per tree a tree record (`1`, name) and its entries (`2`, key,
//! value), each part a u32 little-endian length and its bytes; then `0`, the number of
//! entries (u64 LE) and the SHA-256 of everything before it, so a cut or damaged file is
//! refused rather than restored in part.

use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{Database, Result, StoreError};

const MAGIC: &[u8] = b"hookgate sled backup 1\n";
/// Compiled components: a cache each node rebuilds, and the bulk of a store.
const NOT_BACKED_UP: &[u8] = b"artifacts";
const TREE: u8 = 1;
const ENTRY: u8 = 2;
const END: u8 = 0;

/// Hashes what goes through it.
struct Hashed<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashed<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.hash.update(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("cannot write the backup: {e}"))
}

fn part(out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| std::io::Error::other("a value of more than 4 GiB"))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(bytes)
}

impl Database {
    /// Writes a backup to `out` while every write of the store waits; returns the number
    /// of entries.
    pub(super) fn backup(&self, out: &mut dyn Write) -> Result<u64> {
        let _no_writes = self.writes.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = Hashed { inner: std::io::BufWriter::new(out), hash: Sha256::new() };
        out.write_all(MAGIC).map_err(io)?;
        let mut entries = 0u64;
        for name in self.db.tree_names() {
            if name == NOT_BACKED_UP {
                continue;
            }
            out.write_all(&[TREE]).and_then(|()| part(&mut out, &name)).map_err(io)?;
            for kv in self.db.open_tree(&name)?.iter() {
                let (key, value) = kv?;
                out.write_all(&[ENTRY]).and_then(|()| part(&mut out, &key)).and_then(|()| part(&mut out, &value)).map_err(io)?;
                entries += 1;
            }
        }
        out.write_all(&[END]).and_then(|()| out.write_all(&entries.to_le_bytes())).map_err(io)?;
        let digest = out.hash.clone().finalize();
        out.inner.write_all(&digest).and_then(|()| out.inner.flush()).map_err(io)?;
        Ok(entries)
    }
}

/// Makes a new store in `dir` (which must not hold one) from the backup in `file`; returns
/// the number of entries. The whole file is checked before the store is written.
pub(super) fn restore(file: &Path, dir: &Path) -> Result<u64> {
    let bad = |reason: String| StoreError::Corrupt { what: "backup", reason: format!("{}: {reason}", file.display()) };
    let bytes = std::fs::read(file).map_err(|source| StoreError::File { path: file.display().to_string(), source })?;
    let body = bytes.strip_prefix(MAGIC).ok_or_else(|| bad("not a hookgate sled backup".into()))?;
    let (content, digest) = body.split_at(body.len().saturating_sub(32));
    if digest.len() != 32 || Sha256::new().chain_update(MAGIC).chain_update(content).finalize()[..] != *digest {
        return Err(bad("cut short or damaged (its checksum does not match)".into()));
    }
    let trees = parse(content).map_err(bad)?;
    if dir.exists() && std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_some()) {
        return Err(StoreError::NotEmpty(format!("{} already holds a store", dir.display())));
    }
    let db = sled::Config::new()
        .path(dir)
        .open()
        .map_err(|e| StoreError::Open { path: dir.display().to_string(), reason: e.to_string() })?;
    let mut entries = 0u64;
    for (name, kvs) in trees {
        let tree = db.open_tree(name)?;
        for (key, value) in kvs {
            tree.insert(key, value)?;
            entries += 1;
        }
    }
    db.flush()?;
    drop(db);
    Database::mark_created(dir)?;
    Ok(entries)
}

type Trees<'a> = Vec<(&'a [u8], Vec<(&'a [u8], &'a [u8])>)>;

/// The trees of a backup's content (after the magic, before the checksum).
fn parse(mut content: &[u8]) -> std::result::Result<Trees<'_>, String> {
    fn take<'a>(content: &mut &'a [u8], n: usize) -> std::result::Result<&'a [u8], String> {
        if content.len() < n {
            return Err("cut short".into());
        }
        let (head, rest) = content.split_at(n);
        *content = rest;
        Ok(head)
    }
    fn part<'a>(content: &mut &'a [u8]) -> std::result::Result<&'a [u8], String> {
        let mut len = [0u8; 4];
        take(content, 4)?.read_exact(&mut len).map_err(|e| e.to_string())?;
        take(content, u32::from_le_bytes(len) as usize)
    }
    let mut trees: Trees<'_> = Vec::new();
    let mut entries = 0u64;
    loop {
        match take(&mut content, 1)?[0] {
            TREE => trees.push((part(&mut content)?, Vec::new())),
            ENTRY => {
                let (key, value) = (part(&mut content)?, part(&mut content)?);
                trees.last_mut().ok_or("an entry before any tree")?.1.push((key, value));
                entries += 1;
            }
            END => {
                let mut count = [0u8; 8];
                take(&mut content, 8)?.read_exact(&mut count).map_err(|e| e.to_string())?;
                if u64::from_le_bytes(count) != entries || !content.is_empty() {
                    return Err("its end does not match its entries".into());
                }
                return Ok(trees);
            }
            other => return Err(format!("an unknown record {other}")),
        }
    }
}
