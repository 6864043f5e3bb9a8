//! An SQLite VFS for the log's writer connection that hands each commit's write-ahead-log frames to
//! the operating system in one `pwrite` instead of two per page.
//!
//! Why: SQLite writes every frame of a commit as two system calls, its 24-byte header and then its
//! page, at offsets that are not page-aligned. Profiles of the log's sequencer put these writes at
//! a third of its time per batch (about 30 pages a batch, 60 system calls, each touching one or
//! two page-cache pages); one write of the whole run does the same work with one call and each
//! page-cache page touched once (docs/benchmarks.md).
//!
//! How: the VFS wraps the default one ("unix"). Every method of every file is passed through,
//! except writes to a write-ahead log: those are gathered while they are contiguous and written
//! out
//! - as soon as the frame that commits a transaction has been written (its header carries the
//!   database size; every write after such a header is passed on at once, until the header of a
//!   frame that does not commit), so a commit's frames are all in the operating system before
//!   SQLite publishes them to readers in the shared-memory index, exactly as without this VFS;
//! - before anything else is done with the file (read, size, sync, truncate, file control, close),
//!   so the connection itself always sees what it wrote;
//! - when a write is not contiguous with those gathered, or they reach [`MAX_GATHERED`] bytes.
//!
//! A failed write is reported by the call that made it happen: for a commit, the write of its
//! commit frame, so the transaction fails as it would have.
//!
//! Durability is unchanged: the writer commits with `synchronous = NORMAL` and the log's syncer
//! fsyncs the write-ahead log after each commit, as before; this VFS never syncs and never skips
//! a sync SQLite asks for.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::OnceLock;

use rusqlite::ffi;

/// The name under which the VFS is registered.
pub(crate) const NAME: &CStr = c"tianping-wal-writes";

/// Gathered bytes at which they are written out even without a commit (a transaction larger than
/// this writes its frames in pieces of this size).
const MAX_GATHERED: usize = 4 << 20;

/// Bytes passed to the default VFS in one write at most: it writes `n & 0x1ffff` bytes of a larger
/// request at a time (and reports a full disk when that is zero).
const MAX_WRITE: usize = 0x1ffff;

/// Size of a write-ahead-log frame header.
const FRAME_HEADER: usize = 24;

/// Register the VFS (once per process) and return its name.
pub(crate) fn register() -> Result<&'static CStr, c_int> {
    static REGISTERED: OnceLock<Result<(), c_int>> = OnceLock::new();
    (*REGISTERED.get_or_init(|| {
        // SAFETY: `sqlite3_vfs_find(NULL)` returns the default VFS, which lives as long as the
        // process; the new VFS is leaked so that it does too, as SQLite requires of a registered
        // VFS. Registration is serialised by SQLite and done once here.
        unsafe {
            let rc = ffi::sqlite3_initialize();
            if rc != ffi::SQLITE_OK {
                return Err(rc);
            }
            let real = ffi::sqlite3_vfs_find(std::ptr::null());
            if real.is_null() {
                return Err(ffi::SQLITE_ERROR);
            }
            // The other methods are the default VFS's own; they do not use `pAppData` (which
            // holds the default VFS here, for `x_open`).
            let mut vfs = *real;
            vfs.zName = NAME.as_ptr();
            vfs.pNext = std::ptr::null_mut();
            vfs.pAppData = real.cast();
            vfs.szOsFile = (file_offset() + (*real).szOsFile as usize) as c_int;
            vfs.xOpen = Some(x_open);
            let rc = ffi::sqlite3_vfs_register(Box::into_raw(Box::new(vfs)), 0);
            if rc == ffi::SQLITE_OK { Ok(()) } else { Err(rc) }
        }
    }))
    .map(|()| NAME)
}

/// What SQLite allocates for each file of this VFS: this, then the default VFS's file.
#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    /// Writes gathered for a write-ahead log; null for every other file.
    gathered: *mut Gathered,
}

struct Gathered {
    bytes: Vec<u8>,
    /// File offset of `bytes[0]`.
    at: i64,
    /// The last frame header written marks a commit: write everything out at once.
    committing: bool,
}

/// Offset of the default VFS's file within a [`File`] allocation.
const fn file_offset() -> usize {
    let size = std::mem::size_of::<File>();
    size.div_ceil(16) * 16
}

unsafe extern "C" fn x_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite passes a VFS registered by `register` (whose `pAppData` is the default VFS)
    // and `szOsFile` bytes at `file`, of which the tail from `file_offset()` is the default VFS's
    // file.
    unsafe {
        let real_vfs = (*vfs).pAppData as *mut ffi::sqlite3_vfs;
        let shim = file as *mut File;
        let real = (file as *mut u8).add(file_offset()) as *mut ffi::sqlite3_file;
        (*file).pMethods = std::ptr::null();
        let open = (*real_vfs).xOpen.expect("the default VFS opens files");
        let rc = open(real_vfs, name, real, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        if (*real).pMethods.is_null() {
            return ffi::SQLITE_CANTOPEN;
        }
        std::ptr::addr_of_mut!((*shim).real).write(real);
        let gathered = if flags & ffi::SQLITE_OPEN_WAL != 0 {
            Box::into_raw(Box::new(Gathered {
                bytes: Vec::new(),
                at: 0,
                committing: false,
            }))
        } else {
            std::ptr::null_mut()
        };
        std::ptr::addr_of_mut!((*shim).gathered).write(gathered);
        (*file).pMethods = &METHODS;
        rc
    }
}

/// The default VFS's file behind `file`, and its methods.
///
/// # Safety
/// `file` must be a file opened by `x_open`.
unsafe fn real(file: *mut ffi::sqlite3_file) -> (*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods) {
    // SAFETY: per the contract, `file` is a `File` whose `real` was opened successfully; the
    // default VFS's method tables are static.
    unsafe {
        let real = (*(file as *mut File)).real;
        (real, &*(*real).pMethods)
    }
}

/// Write out whatever is gathered for `file` (nothing for files that are not a write-ahead log).
///
/// # Safety
/// `file` must be a file opened by `x_open`.
unsafe fn write_out(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: per the contract; SQLite calls a file's methods one at a time.
    unsafe {
        let gathered = (*(file as *mut File)).gathered;
        if gathered.is_null() || (*gathered).bytes.is_empty() {
            return ffi::SQLITE_OK;
        }
        let g = &mut *gathered;
        let (real, methods) = real(file);
        let write = methods.xWrite.expect("files can be written");
        let mut rc = ffi::SQLITE_OK;
        let mut at = g.at;
        for piece in g.bytes.chunks(MAX_WRITE) {
            #[cfg(test)]
            tests::WRITES.with(|w| w.set(w.get() + 1));
            rc = write(real, piece.as_ptr().cast(), piece.len() as c_int, at);
            if rc != ffi::SQLITE_OK {
                break;
            }
            at += piece.len() as i64;
        }
        g.bytes.clear();
        rc
    }
}

unsafe extern "C" fn x_write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite passes one of our files and `amount` readable bytes at `data`.
    unsafe {
        let gathered = (*(file as *mut File)).gathered;
        if gathered.is_null() {
            let (real, methods) = real(file);
            return methods.xWrite.expect("files can be written")(real, data, amount, offset);
        }
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), usize::try_from(amount).unwrap_or(0));
        let g = &mut *gathered;
        if !g.bytes.is_empty() && offset != g.at + g.bytes.len() as i64 {
            let rc = write_out(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        if g.bytes.is_empty() {
            g.at = offset;
        }
        g.bytes.extend_from_slice(bytes);
        if bytes.len() == FRAME_HEADER {
            // A frame header: bytes 4..8 are the database size after a commit, zero otherwise.
            g.committing = bytes[4..8] != [0, 0, 0, 0];
            ffi::SQLITE_OK
        } else if g.committing || g.bytes.len() >= MAX_GATHERED {
            write_out(file)
        } else {
            ffi::SQLITE_OK
        }
    }
}

unsafe extern "C" fn x_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite passes one of our files, and never uses it after closing it.
    unsafe {
        let written = write_out(file);
        let shim = file as *mut File;
        if !(*shim).gathered.is_null() {
            drop(Box::from_raw((*shim).gathered));
            (*shim).gathered = std::ptr::null_mut();
        }
        let (real, methods) = real(file);
        let closed = methods.xClose.expect("files can be closed")(real);
        if written != ffi::SQLITE_OK {
            written
        } else {
            closed
        }
    }
}

/// A method that writes out what is gathered, then passes the call on.
macro_rules! after_writing_out {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            // SAFETY: SQLite passes one of our files and the method's own arguments.
            unsafe {
                let rc = write_out(file);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
                let (real, methods) = real(file);
                match methods.$method {
                    Some(method) => method(real $(, $arg)*),
                    None => ffi::SQLITE_MISUSE,
                }
            }
        }
    };
}

/// A method passed straight on.
macro_rules! passed_on {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty, $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> $ret {
            // SAFETY: SQLite passes one of our files and the method's own arguments.
            unsafe {
                let (real, methods) = real(file);
                match methods.$method {
                    Some(method) => method(real $(, $arg)*),
                    None => $missing,
                }
            }
        }
    };
}

after_writing_out!(x_read, xRead, (buf: *mut c_void, amount: c_int, offset: i64));
after_writing_out!(x_truncate, xTruncate, (size: i64));
after_writing_out!(x_sync, xSync, (flags: c_int));
after_writing_out!(x_file_size, xFileSize, (size: *mut i64));
after_writing_out!(x_file_control, xFileControl, (op: c_int, arg: *mut c_void));
after_writing_out!(x_fetch, xFetch, (offset: i64, amount: c_int, out: *mut *mut c_void));
passed_on!(x_lock, xLock, (level: c_int) -> c_int, ffi::SQLITE_MISUSE);
passed_on!(x_unlock, xUnlock, (level: c_int) -> c_int, ffi::SQLITE_MISUSE);
passed_on!(x_check_reserved_lock, xCheckReservedLock, (out: *mut c_int) -> c_int, ffi::SQLITE_MISUSE);
passed_on!(x_sector_size, xSectorSize, () -> c_int, 4096);
passed_on!(x_device_characteristics, xDeviceCharacteristics, () -> c_int, 0);
passed_on!(x_shm_map, xShmMap, (page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void) -> c_int, ffi::SQLITE_IOERR);
passed_on!(x_shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int) -> c_int, ffi::SQLITE_IOERR);
passed_on!(x_shm_barrier, xShmBarrier, () -> (), ());
passed_on!(x_shm_unmap, xShmUnmap, (delete: c_int) -> c_int, ffi::SQLITE_OK);
passed_on!(x_unfetch, xUnfetch, (offset: i64, page: *mut c_void) -> c_int, ffi::SQLITE_OK);

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(x_shm_map),
    xShmLock: Some(x_shm_lock),
    xShmBarrier: Some(x_shm_barrier),
    xShmUnmap: Some(x_shm_unmap),
    xFetch: Some(x_fetch),
    xUnfetch: Some(x_unfetch),
};

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{Connection, OpenFlags};
    use std::cell::Cell;

    thread_local! {
        /// Writes of gathered bytes made on this thread.
        pub(super) static WRITES: Cell<usize> = const { Cell::new(0) };
    }

    fn open(file: &std::path::Path) -> Connection {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        let c = Connection::open_with_flags_and_vfs(file, flags, register().unwrap()).unwrap();
        c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = 50")
            .unwrap();
        c
    }

    fn rows(c: &Connection) -> Vec<(i64, i64)> {
        let mut s = c.prepare("SELECT id, length(v) FROM t ORDER BY id").unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn commits_are_whole_for_other_connections_and_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.db");
        let writer = open(&file);
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
            .unwrap();
        // A reader on the default VFS, open while the writer writes.
        let reader = Connection::open(&file).unwrap();
        let mut expected = Vec::new();
        let mut id = 0;
        // Commits of one page, of more than one write's worth (`MAX_WRITE`), and of more than
        // `MAX_GATHERED` (the 50-page cache also spills frames before the commit).
        for (count, size) in [(1, 10i64), (40, 4000), (3, 3_000_000), (200, 700)] {
            let before = WRITES.with(Cell::get);
            let tx = writer.unchecked_transaction().unwrap();
            for _ in 0..count {
                id += 1;
                tx.execute("INSERT INTO t (id, v) VALUES (?1, zeroblob(?2))", (id, size))
                    .unwrap();
                expected.push((id, size));
            }
            tx.commit().unwrap();
            assert_eq!(rows(&reader), expected, "the reader sees every commit, whole");
            let writes = WRITES.with(Cell::get) - before;
            let pages = (count * size) as usize / 4000;
            // One write a commit, plus one per `MAX_WRITE` bytes (and per `MAX_GATHERED` when
            // the cache spills): far fewer than the two a frame SQLite makes.
            assert!(
                writes >= 1 && writes <= 2 + pages * 4100 / MAX_WRITE,
                "{writes} writes for {pages} pages"
            );
        }
        // A transaction that spilled frames and rolled back leaves nothing behind.
        let tx = writer.unchecked_transaction().unwrap();
        tx.execute("INSERT INTO t (id, v) VALUES (1000, zeroblob(5000000))", [])
            .unwrap();
        tx.rollback().unwrap();
        writer
            .execute("INSERT INTO t (id, v) VALUES (1001, zeroblob(10))", [])
            .unwrap();
        expected.push((1001, 10));
        assert_eq!(rows(&reader), expected);
        assert_eq!(rows(&writer), expected, "the writer reads back what it wrote");
        // Checkpoint through the writer itself (it reads its own log), then reopen.
        writer
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        drop((writer, reader));
        let again = Connection::open(&file).unwrap();
        assert_eq!(rows(&again), expected);
        let check: String = again
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }
}
