//! A CSV extract streamed through the conversion workers.
//!
//! This thread reads the file in blocks of whole records ([`Blocks`]: a
//! read, a search for the last line feed) and emits the finished batches
//! in file order; each worker parses a block into records, converts them
//! ([`Chunker`]: classification, pseudonymisation) and hands its batches
//! back. The CSV parse, the costliest part of reading, so runs on every
//! core. A worker numbers its block's records from 1; the rows' line
//! numbers are made the file's as the batches are emitted, from the
//! records of the blocks before. Memory is bounded by the blocks in
//! flight, whatever the file's size.

use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::TrySendError;

use eqpipe_plugin_sdk::arrow_array::{ArrayRef, RecordBatch, UInt64Array};
use eqpipe_plugin_sdk::contract::SOURCE_ROW_COLUMN;
use eqpipe_plugin_sdk::prelude::*;

use crate::blocks::{self, Blocks};
use crate::columnar::Chunker;
use crate::{Workforce, column_positions, open_csv};

/// Bytes of the file a worker takes at a time.
const BLOCK: usize = 1 << 20;
/// Records in one batch at most.
const CHUNK: usize = 16 * 1024;

/// A block to convert, the `seq`th of the file.
struct Job {
    seq: u64,
    bytes: Vec<u8>,
}

/// A converted block.
struct Done {
    seq: u64,
    /// Its batches (rows numbered from 1 within the block), or the first
    /// fault: the record it was at and what it was.
    batches: Result<Vec<RecordBatch>, (u64, PluginError)>,
    /// Records in the block (blank ones too: they take a line number).
    records: u64,
    /// Rows in its batches.
    rows: u64,
    /// The block's memory, for the next one.
    bytes: Vec<u8>,
}

/// A block's records converted: its batches or the first fault, the
/// records it holds and the rows of its batches.
type Converted = (Result<Vec<RecordBatch>, (u64, PluginError)>, u64, u64);

/// A worker's reused memory: CSV records, and a plain block's field ends
/// and records.
struct Scratch {
    records: Vec<csv::ByteRecord>,
    ends: Vec<usize>,
    plain: Vec<(usize, std::ops::Range<usize>)>,
}

/// A chunk's conversion added to its block's: the batch (if any row was
/// not blank) and its rows, or the fault at the chunk's first record.
fn add_chunk(
    converted: Result<Option<(RecordBatch, u64)>, eqpipe_plugin_sdk::arrow_schema::ArrowError>,
    first: u64,
    batches: &mut Vec<RecordBatch>,
    rows: &mut u64,
) -> Result<(), (u64, PluginError)> {
    if let Some((batch, n)) = converted.map_err(|e| (first, PluginError::from(e)))? {
        *rows += n;
        batches.push(batch);
    }
    Ok(())
}

/// A [plain](blocks::is_plain) block split at its line feeds and commas
/// (no CSV parse) and converted, 16K records at a time.
fn convert_plain(
    chunker: &mut Chunker<'_>,
    scratch: &mut Scratch,
    bytes: &[u8],
    name: &str,
) -> Converted {
    blocks::split_plain(bytes, &mut scratch.ends, &mut scratch.plain);
    let (mut batches, mut rows) = (Vec::new(), 0u64);
    let mut views = Vec::with_capacity(CHUNK.min(scratch.plain.len()));
    for (c, part) in scratch.plain.chunks(CHUNK).enumerate() {
        let base = (c * CHUNK) as u64;
        views.clear();
        views.extend(part.iter().map(|(start, fields)| blocks::PlainRecord {
            block: bytes,
            start: *start,
            ends: &scratch.ends[fields.clone()],
        }));
        let converted = chunker.chunk(&views, |k| base + k as u64 + 1, name);
        if let Err(fault) = add_chunk(converted, base + 1, &mut batches, &mut rows) {
            return (Err(fault), base, rows);
        }
    }
    (Ok(batches), scratch.plain.len() as u64, rows)
}

/// One block parsed into records and converted, 16K records at a time: by
/// [`convert_plain`] where it holds no quote and no lone carriage return,
/// else through the CSV reader.
fn convert_block(
    chunker: &mut Chunker<'_>,
    scratch: &mut Scratch,
    bytes: &[u8],
    name: &str,
) -> Converted {
    if blocks::is_plain(bytes) {
        return convert_plain(chunker, scratch, bytes, name);
    }
    let records = &mut scratch.records;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let (mut batches, mut total, mut rows) = (Vec::new(), 0u64, 0u64);
    loop {
        let mut used = 0;
        while used < records.len() {
            match rdr.read_byte_record(&mut records[used]) {
                Ok(true) => used += 1,
                Ok(false) => break,
                Err(e) => {
                    let at = total + used as u64 + 1;
                    return (Err((at, PluginError::data(e.to_string()))), total, rows);
                }
            }
        }
        if used == 0 {
            break;
        }
        let base = total;
        let converted = chunker.chunk(&records[..used], |k| base + k as u64 + 1, name);
        if let Err(fault) = add_chunk(converted, base + 1, &mut batches, &mut rows) {
            return (Err(fault), total, rows);
        }
        total += used as u64;
        if used < records.len() {
            break;
        }
    }
    (Ok(batches), total, rows)
}

/// One worker's part: blocks converted until the jobs run out. A panic
/// while converting a block is that block's fault, sent in its place so
/// that the run fails at once (the blocks after it are not held waiting
/// for it); the worker then stops.
fn work(
    chunker: &mut Chunker<'_>,
    jobs: &std::sync::Mutex<std::sync::mpsc::Receiver<Job>>,
    done: &std::sync::mpsc::Sender<Done>,
    name: &str,
) {
    let mut scratch = Scratch {
        records: vec![csv::ByteRecord::new(); CHUNK],
        ends: Vec::new(),
        plain: Vec::new(),
    };
    loop {
        let job = match jobs.lock().map(|r| r.recv()) {
            Ok(Ok(job)) => job,
            _ => break,
        };
        let converted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            convert_block(chunker, &mut scratch, &job.bytes, name)
        }));
        let panicked = converted.is_err();
        let (batches, records_in, rows) = converted.unwrap_or_else(|_| {
            let e = PluginError::internal("converting this part of the file failed (a panic)");
            (Err((1, e)), 0, 0)
        });
        let d = Done {
            seq: job.seq,
            batches,
            records: records_in,
            rows,
            bytes: job.bytes,
        };
        if done.send(d).is_err() || panicked {
            break;
        }
    }
}

/// `batch` with its source rows moved on by `by`.
fn shift_rows(batch: RecordBatch, by: u64) -> Result<RecordBatch, PluginError> {
    let schema = batch.schema();
    let at = schema
        .index_of(SOURCE_ROW_COLUMN)
        .map_err(|e| PluginError::internal(e.to_string()))?;
    let mut columns = batch.columns().to_vec();
    let rows = columns[at]
        .as_any()
        .downcast_ref::<UInt64Array>()
        .ok_or_else(|| PluginError::internal("source rows are not u64"))?;
    let shifted: ArrayRef = Arc::new(UInt64Array::from_iter_values(
        rows.values().iter().map(|r| r + by),
    ));
    columns[at] = shifted;
    RecordBatch::try_new(schema, columns).map_err(PluginError::from)
}

/// The file-order emitter: finished blocks wait until those before them
/// are out.
struct Emitter<'c> {
    ctx: &'c Context<'c>,
    name: &'c str,
    pending: BTreeMap<u64, Done>,
    next: u64,
    /// Records in the blocks emitted so far (the header is line 1).
    records: u64,
    rows: u64,
    free: Vec<Vec<u8>>,
}

impl Emitter<'_> {
    fn take(&mut self, done: Done) -> Result<(), PluginError> {
        self.pending.insert(done.seq, done);
        while let Some(d) = self.pending.remove(&self.next) {
            self.next += 1;
            let first = 1 + self.records;
            match d.batches {
                Ok(batches) => {
                    for batch in batches {
                        let batch = shift_rows(batch, first)?;
                        self.ctx
                            .emit_batches("workforce", batch.schema(), vec![batch])?;
                    }
                }
                Err((k, e)) => {
                    return Err(PluginError::new(
                        e.kind,
                        format!("{}, row {}: {}", self.name, first + k, e.message),
                    ));
                }
            }
            self.records += d.records;
            self.rows += d.rows;
            self.free.push(d.bytes);
        }
        Ok(())
    }
}

impl Workforce {
    /// Streams a CSV extract through one conversion worker per core (up to
    /// four); the batches are emitted in file order.
    pub(crate) fn convert_csv(
        &mut self,
        ctx: &Context,
        path: &Path,
        name: &str,
    ) -> Result<u64, PluginError> {
        let encoding = self.options.encoding;
        let (rdr, header) = open_csv(path, name, encoding)?;
        let data_start = rdr.position().byte();
        drop(rdr);
        let mut file =
            std::fs::File::open(path).map_err(|e| PluginError::io(format!("{name}: {e}")))?;
        file.seek(SeekFrom::Start(data_start))
            .map_err(|e| PluginError::io(format!("{name}: {e}")))?;
        let mut blocks = Blocks::new(file);
        let idx = column_positions(&self.options, &header, name)?;
        let classifier = std::mem::take(&mut self.classifier);
        let proto = Chunker::new(
            &self.options,
            encoding,
            &self.key,
            &idx,
            &header,
            classifier,
        );
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<Job>(workers);
        let job_rx = std::sync::Mutex::new(job_rx);
        let (done_tx, done_rx) = std::sync::mpsc::channel::<Done>();
        let mut out = Emitter {
            ctx,
            name,
            pending: BTreeMap::new(),
            next: 0,
            records: 0,
            rows: 0,
            free: Vec::new(),
        };
        let (result, classifiers) = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    let mut chunker = proto.clone();
                    // Each worker counts its own unmapped answers; they are
                    // added to the file's at the end.
                    chunker.classifier.unmapped.clear();
                    let (job_rx, done_tx) = (&job_rx, done_tx.clone());
                    s.spawn(move || {
                        work(&mut chunker, job_rx, &done_tx, name);
                        chunker.count_unmapped();
                        chunker.classifier
                    })
                })
                .collect();
            drop(done_tx);
            let stopped = || PluginError::internal("the conversion workers stopped");
            let mut read = || -> Result<u64, PluginError> {
                let mut seq = 0u64;
                loop {
                    ctx.check_cancelled()?;
                    let mut bytes = out.free.pop().unwrap_or_default();
                    let more = blocks.next_into(BLOCK, &mut bytes).map_err(|e| {
                        PluginError::io(format!(
                            "{name}: reading after row {}: {e}",
                            1 + out.records
                        ))
                    })?;
                    if !more {
                        return Ok(seq);
                    }
                    let mut job = Job { seq, bytes };
                    seq += 1;
                    // Finished blocks are emitted while the workers are busy.
                    loop {
                        match job_tx.try_send(job) {
                            Ok(()) => break,
                            Err(TrySendError::Full(j)) => {
                                job = j;
                                out.take(done_rx.recv().map_err(|_| stopped())?)?;
                            }
                            Err(TrySendError::Disconnected(_)) => return Err(stopped()),
                        }
                    }
                    while let Ok(d) = done_rx.try_recv() {
                        out.take(d)?;
                    }
                }
            };
            let sent = read();
            drop(job_tx);
            let (mut result, jobs) = match sent {
                Ok(jobs) => (Ok(()), jobs),
                Err(e) => (Err(e), 0),
            };
            // The blocks still in flight.
            for d in done_rx.iter() {
                if result.is_ok() {
                    result = out.take(d);
                }
            }
            let mut classifiers = Vec::new();
            let mut failed = false;
            for h in handles {
                match h.join() {
                    Ok(c) => classifiers.push(c),
                    Err(_) => failed = true,
                }
            }
            // A worker that died loses its block: never a silently short
            // dataset.
            if result.is_ok() && (failed || out.next != jobs) {
                result = Err(PluginError::internal(format!(
                    "{name}: a conversion worker stopped; the file was not fully converted"
                )));
            }
            (result, classifiers)
        });
        let mut classifier = proto.classifier;
        for c in classifiers {
            classifier.merge_unmapped(c);
        }
        self.classifier = classifier;
        result.map(|()| out.rows)
    }
}
